"""A secret given at creation (POST or bootstrap file) never appears in any response, log line,
broker record or database column in the clear (issue 5: "a test greps them")."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from cryptography.fernet import Fernet
from pydantic import SecretStr

from ledger_api.domain.crypto import KeyRing
from ledger_api.observability import configure_logging
from ledger_api.settings import Settings
from ledger_contracts import codec, topics

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key().decode()
SECRETS = {
    "intune": "Intune-Secret~AAAA-0001-zz",
    "jamf_client": "Jamf-Client~BBBB-0002-yy",
    "jamf_password": "Jamf-Password~CCCC-0003-xx",
    "rejected": "Rejected-Secret~DDDD-0004-ww",
    "seeded": "Seeded-Secret~EEEE-0005-vv",
}


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the app (structlog and the standard library) as JSON, at DEBUG."""
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stdout, sys.stdout = sys.stdout, buffer
    try:
        configure_logging("DEBUG")
    finally:
        sys.stdout = stdout
    structlog.configure(cache_logger_on_first_use=False)  # later tests must not keep this buffer
    yield buffer
    structlog.reset_defaults()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.fixture
def bootstrap_file(bootstrap_file: Path) -> Path:
    """The suite's tenants, plus an integration whose credentials come from the file."""
    data = json.loads(bootstrap_file.read_text())
    data["tenants"][0]["integrations"].append(
        {
            "integration_id": "int-seeded",
            "kind": "intune",
            "credentials": {"azure_tenant_id": "t", "client_id": "c", "client_secret": SECRETS["seeded"]},
        }
    )
    bootstrap_file.write_text(json.dumps(data))
    return bootstrap_file


@pytest.fixture
def settings(settings: Settings, json_logs: io.StringIO) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(KEY)})


def needles() -> set[str]:
    """Each secret, and its ends: a truncated secret is still a leak."""
    return {f for s in SECRETS.values() for f in (s, s[:12], s[-12:])}


async def test_no_secret_in_responses_logs_records_or_columns(app, client, anon, tap, db, json_logs) -> None:
    responses: list[Any] = []

    async def call(method: str, path: str, **kw: Any) -> Any:
        resp = await client.request(method, path, **kw)
        responses.append(resp)
        return resp

    intune = {
        "kind": "intune",
        "integration_id": "int-intune-9",
        "azure_tenant_id": "tid",
        "client_id": "cid",
        "client_secret": SECRETS["intune"],
    }
    jamf_client = {
        "kind": "jamf_pro",
        "base_url": "https://jamf.example.com",
        "client_id": "api",
        "client_secret": SECRETS["jamf_client"],
    }
    jamf_user = {
        "kind": "jamf_pro",
        "base_url": "https://jamf2.example.com",
        "username": "u",
        "password": SECRETS["jamf_password"],
    }
    assert (await call("POST", "/v1/integrations", json=intune)).status_code == 201
    assert (await call("POST", "/v1/integrations", json=jamf_client)).status_code == 201
    jamf_id = (await call("POST", "/v1/integrations", json=jamf_user)).json()["integration_id"]
    assert (await call("POST", "/v1/integrations", json=intune)).status_code == 409
    bad = jamf_user | {"password": SECRETS["rejected"], "client_secret": SECRETS["rejected"], "base_url": "x"}
    assert (await call("POST", "/v1/integrations", json=bad)).status_code == 422
    wrong_type = intune | {"integration_id": "int-x", "client_secret": [SECRETS["rejected"]]}
    assert (await call("POST", "/v1/integrations", json=wrong_type)).status_code == 422
    for path in ("/v1/integrations", "/v1/integrations/int-intune-9", f"/v1/integrations/{jamf_id}"):
        assert (await call("GET", path)).status_code == 200

    link = (await call("POST", "/v1/master-links", json={"integration_id": "int-intune-9"})).json()
    lid = link["master_link_id"]
    assert (await call("POST", f"/v1/master-links/{lid}/sync", json={"dry_run": True})).status_code == 202
    seeded_link = await call("POST", "/v1/master-links", json={"integration_id": "int-seeded"})
    assert seeded_link.status_code == 201
    assert (await call("POST", "/v1/master-links", json={"integration_id": jamf_id})).status_code == 201
    # A key that no longer opens the stored credentials: the failure path logs and answers.
    app.state.ledger.sync_requests.keys = KeyRing.parse(Fernet.generate_key().decode())
    failed = (await call("POST", f"/v1/master-links/{lid}/sync")).json()
    assert failed["status"] == "failed"
    app.state.ledger.sync_requests.keys = app.state.ledger.keys
    for path in (
        "/v1/master-links",
        f"/v1/master-links/{lid}",
        "/v1/sync-runs",
        f"/v1/sync-runs/{failed['sync_run_id']}",
    ):
        assert (await call("GET", path)).status_code == 200
    assert (await call("DELETE", f"/v1/master-links/{lid}?keep_devices=true")).status_code == 202
    for path in ("/metrics", "/openapi.json", "/readyz", "/healthz"):
        responses.append(await anon.get(path))

    # The secrets did travel, sealed: the connectors can open them with the shared key.
    records = await (await tap(topics.SYNC_REQUESTS)).take(4)
    requests = [codec.decode(codec.sync_request_adapter, r.value) for r in records]
    opened = [KeyRing.parse(KEY).decrypt_json(r.credentials.ciphertext) for r in requests if r.credentials]
    assert {e.get("client_secret") or e.get("password") for e in opened} == {
        SECRETS["intune"],
        SECRETS["seeded"],
        SECRETS["jamf_password"],
    }
    commands = await (await tap(topics.COMMANDS)).take(1)

    dump = []
    for table in ("tenants", "api_tokens", "integrations", "master_links", "sync_runs"):
        dump += [
            r["row"] for r in await db.fetch(f"SELECT row_to_json(t)::text AS row FROM ledger.{table} t")
        ]

    logs = json_logs.getvalue()
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    names = {e.get("event") for e in events}
    # The paths that could leak did run and log (so this test can fail):
    assert {"bootstrap.seeded", "http.request", "sync.credentials_unusable", "ledger_api.started"} <= names
    statuses = {
        (e.get("method"), e.get("route"), e.get("status")) for e in events if e.get("event") == "http.request"
    }
    assert {("POST", "/v1/integrations", 201), ("POST", "/v1/integrations", 422)} <= statuses
    assert all(e.get("request_id") for e in events if e.get("event") == "http.request")

    texts = {
        "responses": "\n".join(r.text + json.dumps(dict(r.headers)) for r in responses),
        "logs": logs,
        "sync requests": "\n".join(r.value.decode() for r in records),
        "commands": "\n".join(r.value.decode() for r in commands),
        "database": "\n".join(dump),
    }
    assert len(responses) >= 20
    leaks = {where: [n for n in needles() if n in text] for where, text in texts.items()}
    assert leaks == {where: [] for where in texts}
