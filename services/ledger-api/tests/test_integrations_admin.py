"""R-A1 / R-X2 over HTTP against real PostgreSQL, the real broker and the MDM simulators over TLS:
integrations are edited (a rotated secret is what the next sync carries), deleted (409 while
linked) and tested against their MDM, which reports what failed without the secret; "connected"
means a successful test or sync, a failing one shows `error` and when it last worked."""

from __future__ import annotations

import io
import json
import logging
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from cryptography.fernet import Fernet
from ledger_api_testing import T0, sync_run_summary
from pydantic import SecretStr

from ledger_api.domain.crypto import KeyRing
from ledger_api.observability import configure_logging
from ledger_api.settings import Settings
from ledger_contracts import SyncRequested, codec, topics
from mdm_sim.graph.config import GraphSimConfig
from mdm_sim.graph.runner import RunningGraphSim, running_graph_sim
from mdm_sim.jamf.runner import RunningJamfSim, running_jamf_sim
from mdm_sim.jamf.state import JamfSim

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-A1")]

KEY = Fernet.generate_key().decode()
KEYS = KeyRing.parse(KEY)
OLD_SECRET = "intune-Old~Secret~0001"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(KEY)})


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGraphSim]:
    with running_graph_sim(GraphSimConfig(devices=3), cert_dir=tmp_path_factory.mktemp("graph-tls")) as sim:
        yield sim


@pytest.fixture(scope="module")
def jamf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningJamfSim]:
    computers = [{"id": "1", "general": {"name": "MAC-1"}, "hardware": {"serialNumber": "C02X"}}]
    with running_jamf_sim(JamfSim(computers=computers), cert_dir=tmp_path_factory.mktemp("jamf-tls")) as sim:
        yield sim


def intune_body(graph: RunningGraphSim, **overrides: Any) -> dict[str, Any]:
    entry = graph.integration()
    return {"kind": "intune", "integration_id": "int-sim", "display_name": "Sim Intune", **entry, **overrides}


def decode_request(record: Any) -> SyncRequested:
    return codec.decode(codec.sync_request_adapter, record.value)  # type: ignore[no-any-return]


async def audit_entries(db: Any, action: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT tenant_id, actor_name, action, target_id, before::text AS before, after::text AS after"
        " FROM ledger.audit_log WHERE action = $1 ORDER BY audit_id",
        action,
    )
    return [dict(r) for r in rows]


async def test_a_rotated_secret_is_what_the_next_sync_carries_and_the_old_one_never_again(
    client, tap, db, graph, error
) -> None:
    """Done-when of issue 10: a secret rotated over the API is used by the next sync, the old by none."""
    created = await client.post("/v1/integrations", json=intune_body(graph, client_secret=OLD_SECRET))
    assert created.status_code == 201, created.text
    assert created.json()["state"] == "untested"
    link = (await client.post("/v1/master-links", json={"integration_id": "int-sim"})).json()
    lid = link["master_link_id"]

    # The simulator refuses the old secret: the test says so, naming the step, never the secret.
    failed = await client.post("/v1/integrations/int-sim/test")
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert (body["ok"], body["failure"], body["step"], body["state"]) == (
        False,
        "authentication",
        "token",
        "error",
    )
    assert "invalid_client" in body["message"] and OLD_SECRET not in failed.text
    shown = (await client.get("/v1/integrations/int-sim")).json()
    assert shown["state"] == "error" and shown["error"]["kind"] == "authentication"
    assert shown["last_succeeded_at"] is None

    resp = await client.patch("/v1/integrations/int-sim", json={"client_secret": graph.client_secret})
    assert resp.status_code == 200, resp.text
    patched = resp.json()
    assert patched["integration_id"] == "int-sim" and patched["master_link_ids"] == [lid]
    assert patched["has_secret"] is True and graph.client_secret not in resp.text
    assert patched["state"] == "master_linked" and patched["error"] is None  # the failed test is forgotten

    run = (await client.post(f"/v1/master-links/{lid}/sync")).json()
    requests_tap = await tap(topics.SYNC_REQUESTS)
    records = await requests_tap.take(2)
    first, after = decode_request(records[0]), decode_request(records[1])
    assert first.trigger == "link_created" and str(after.sync_run_id) == run["sync_run_id"]
    assert first.credentials is not None and after.credentials is not None
    assert KEYS.decrypt_json(first.credentials.ciphertext)["client_secret"] == OLD_SECRET
    assert KEYS.decrypt_json(after.credentials.ciphertext)["client_secret"] == graph.client_secret
    assert after.master_link.master_link_id == lid  # the same link, the same integration
    for record in records:
        assert OLD_SECRET.encode() not in record.value and graph.client_secret.encode() not in record.value

    # The new secret works against the MDM: connected (and still master-linked).
    ok = (await client.post("/v1/integrations/int-sim/test")).json()
    assert ok["ok"] is True and ok["failure"] is None and ok["step"] == "devices", ok
    shown = (await client.get("/v1/integrations/int-sim")).json()
    assert shown["state"] == "master_linked" and shown["last_succeeded_at"] is not None

    # Audited in the same transactions, never with a secret.
    [update] = await audit_entries(db, "integration.update")
    assert update["tenant_id"] == "acme" and update["target_id"] == "int-sim"
    assert json.loads(update["after"])["secrets_rotated"] == ["client_secret"]
    tests = await audit_entries(db, "integration.test")
    assert [json.loads(t["after"])["ok"] for t in tests] == [False, True]
    everything = json.dumps([dict(r) for r in await db.fetch("SELECT * FROM ledger.audit_log")], default=str)
    assert OLD_SECRET not in everything and graph.client_secret not in everything


async def test_connection_test_failures_are_named(client, app, graph, tmp_path) -> None:
    cases = {
        "int-consent": ("consent_or_permission", "devices"),
        "int-tls": ("tls", "token"),
        "int-net": ("network", "token"),
        "int-tenant": ("authentication", "token"),
    }
    await client.post("/v1/integrations", json=intune_body(graph, integration_id="int-tls", ca_bundle=None))
    await client.post(
        "/v1/integrations",
        json=intune_body(
            graph, integration_id="int-net", authority_url="https://127.0.0.1:9/x", graph_base_url=None
        ),
    )
    await client.post(
        "/v1/integrations",
        json=intune_body(
            graph,
            integration_id="int-tenant",
            azure_tenant_id="other",
            authority_url=f"{graph.base_url}/other",
        ),
    )
    with running_graph_sim(
        GraphSimConfig(devices=1, faults=[{"status": 403, "times": -1}]), cert_dir=tmp_path
    ) as denied:
        await client.post("/v1/integrations", json=intune_body(denied, integration_id="int-consent"))
        results = {iid: (await client.post(f"/v1/integrations/{iid}/test")).json() for iid in cases}
    for iid, (failure, step) in cases.items():
        result = results[iid]
        assert (result["ok"], result["failure"], result["step"]) == (False, failure, step), result
        assert graph.client_secret not in json.dumps(result)
        shown = (await client.get(f"/v1/integrations/{iid}")).json()
        assert shown["state"] == "error" and shown["error"]["kind"] == failure
        assert shown["error"]["message"] == result["message"]


async def test_jamf_api_client_and_user_sign_in_are_tested(client, jamf) -> None:
    base = {"kind": "jamf_pro", "base_url": jamf.base_url, "ca_bundle": str(jamf.ca_pem)}
    config = jamf.sim.config
    oauth = base | {
        "integration_id": "int-j1",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    assert (await client.post("/v1/integrations", json=oauth)).status_code == 201
    result = (await client.post("/v1/integrations/int-j1/test")).json()
    assert result["ok"] is True and result["state"] == "connected", result
    assert (await client.get("/v1/integrations/int-j1")).json()["state"] == "connected"

    # Switch to user sign-in with a wrong password: authentication, and the password never shows.
    resp = await client.patch(
        "/v1/integrations/int-j1", json={"username": config.username, "password": "nope-nope-1"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["connection"]["auth"] == "user" and resp.json()["connection"]["client_id"] is None
    bad = await client.post("/v1/integrations/int-j1/test")
    assert bad.json()["failure"] == "authentication" and "nope-nope-1" not in bad.text
    shown = (await client.get("/v1/integrations/int-j1")).json()
    assert shown["state"] == "error" and shown["last_succeeded_at"] is not None  # when it last worked
    fixed = await client.patch("/v1/integrations/int-j1", json={"password": config.password})
    assert fixed.status_code == 200, fixed.text
    assert (await client.post("/v1/integrations/int-j1/test")).json()["ok"] is True


async def test_a_failed_sync_shows_as_error_until_one_succeeds(client, project) -> None:
    await project(sync_run_summary("acme", uuid.uuid4(), "completed", at=T0, seen=1))
    shown = (await client.get("/v1/integrations/int-intune-1")).json()
    assert shown["state"] == "master_linked" and shown["last_succeeded_at"] is not None
    failed_run = uuid.uuid4()
    later = T0.replace(hour=T0.hour + 1)
    await project(sync_run_summary("acme", failed_run, "failed", at=later))
    shown = (await client.get("/v1/integrations/int-intune-1")).json()
    assert shown["state"] == "error"
    assert shown["error"] == {
        "kind": "sync_failed",
        "message": "pull failed",
        "at": shown["error"]["at"],
        "sync_run_id": str(failed_run),
    }
    assert shown["last_succeeded_at"].startswith(T0.strftime("%Y-%m-%dT%H:%M"))
    await project(sync_run_summary("acme", uuid.uuid4(), "completed", at=later.replace(hour=later.hour + 1)))
    assert (await client.get("/v1/integrations/int-intune-1")).json()["state"] == "master_linked"


async def test_patch_is_validated_naming_the_field_never_echoing_a_secret(client, graph, error) -> None:
    await client.post("/v1/integrations", json=intune_body(graph))
    error(await client.patch("/v1/integrations/int-sim", json={}), 422, "empty_patch")
    err = error(
        await client.patch("/v1/integrations/int-sim", json={"base_url": "https://x.example"}),
        422,
        "invalid_body",
    )
    assert err["details"][0]["field"] == "base_url" and "intune" in err["message"]
    err = error(await client.patch("/v1/integrations/int-sim", json={"colour": "red"}), 422, "invalid_body")
    assert err["details"][0]["field"] == "colour"
    resp = await client.patch(
        "/v1/integrations/int-sim",
        json={"graph_base_url": "http://graph.example", "client_secret": "S3cret-new-1"},
    )
    err = error(resp, 422, "invalid_body")
    assert err["details"][0]["field"] == "graph_base_url" and "S3cret-new-1" not in resp.text
    err = error(
        await client.patch("/v1/integrations/int-sim", json={"client_secret": ""}), 422, "invalid_body"
    )
    assert err["details"][0]["field"] == "client_secret"
    renamed = await client.patch("/v1/integrations/int-sim", json={"display_name": ""})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "-"  # R-S3
    # Nothing else changed, and the stored secret is the original one.
    assert (await client.post("/v1/integrations/int-sim/test")).json()["ok"] is True
    error(await client.patch("/v1/integrations/nope", json={"display_name": "x"}), 404, "not_found")


@pytest.mark.rule("R-X2")
async def test_private_mdm_hosts_are_refused_unless_the_operator_allows_them(app, client, error) -> None:
    state = app.state.ledger
    state.settings = state.settings.model_copy(update={"allow_private_mdm_hosts": False})
    jamf = {"kind": "jamf_pro", "integration_id": "int-x", "username": "u", "password": "p4ssword-x"}
    for url, why in [
        ("https://169.254.169.254/latest", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://127.0.0.1:8443", "loopback"),
        ("https://localhost:8443", "loopback"),
        ("https://10.1.2.3", "private"),
        ("http://jamf.example.com", "https"),
    ]:
        err = error(await client.post("/v1/integrations", json=jamf | {"base_url": url}), 422, "invalid_body")
        assert err["details"][0]["field"] == "base_url" and why in err["message"], err
        assert "p4ssword-x" not in json.dumps(err)
    resp = await client.post(
        "/v1/integrations",
        json={"kind": "intune", "azure_tenant_id": "t", "client_id": "c", "client_secret": "s" * 12,
              "authority_url": "https://[::1]/t"},
    )  # fmt: skip
    assert error(resp, 422, "invalid_body")["details"][0]["field"] == "authority_url"
    # PATCH checks the URL it changes.
    err = error(
        await client.patch("/v1/integrations/int-jamf-1", json={"base_url": "https://192.168.0.10"}),
        422,
        "invalid_body",
    )
    assert err["details"][0]["field"] == "base_url" and "private" in err["message"]
    # The operator's setting lets private hosts through (https is still required).
    state.settings = state.settings.model_copy(update={"allow_private_mdm_hosts": True})
    ok = await client.post("/v1/integrations", json=jamf | {"base_url": "https://127.0.0.1:8443"})
    assert ok.status_code == 201, ok.text
    error(
        await client.post(
            "/v1/integrations", json=jamf | {"integration_id": "int-y", "base_url": "http://10.0.0.1"}
        ),
        422,
        "invalid_body",
    )


async def test_delete_is_refused_while_linked_and_hides_the_integration(client, db, error) -> None:
    err = error(await client.delete("/v1/integrations/int-intune-1"), 409, "integration_linked")
    assert err["details"] == {"integration_id": "int-intune-1", "master_link_id": "ml-intune-1"}
    assert "ml-intune-1" in err["message"] and "unlink" in err["message"]
    assert (await client.delete("/v1/master-links/ml-intune-1?keep_devices=true")).status_code == 202
    assert (await client.delete("/v1/integrations/int-intune-1")).status_code == 204
    error(await client.get("/v1/integrations/int-intune-1"), 404, "not_found")
    error(await client.delete("/v1/integrations/int-intune-1"), 404, "not_found")
    error(await client.post("/v1/integrations/int-intune-1/test"), 404, "not_found")
    assert "int-intune-1" not in [
        i["integration_id"] for i in (await client.get("/v1/integrations")).json()["items"]
    ]
    error(await client.post("/v1/master-links", json={"integration_id": "int-intune-1"}), 404, "not_found")
    # The removed link stays readable; the credentials are gone; the action is audited.
    assert (await client.get("/v1/master-links/ml-intune-1")).json()["status"] == "removed"
    row = await db.fetchrow(
        "SELECT credentials, deleted_at FROM ledger.integrations WHERE integration_id = 'int-intune-1'"
    )
    assert row["credentials"] is None and row["deleted_at"] is not None
    [entry] = await audit_entries(db, "integration.delete")
    assert json.loads(entry["before"])["integration_id"] == "int-intune-1" and entry["after"] is None


async def test_without_credentials_a_test_says_what_to_do(client, error) -> None:
    err = error(await client.post("/v1/integrations/int-jamf-1/test"), 409, "no_credentials")
    assert "PATCH" in err["message"]


async def test_another_tenant_gets_404_on_every_new_integration_path(client, globex, graph, error) -> None:
    await client.post("/v1/integrations", json=intune_body(graph))
    error(await globex.patch("/v1/integrations/int-sim", json={"display_name": "mine"}), 404, "not_found")
    error(await globex.delete("/v1/integrations/int-sim"), 404, "not_found")
    error(await globex.post("/v1/integrations/int-sim/test"), 404, "not_found")
    mine = (await client.get("/v1/integrations/int-sim")).json()
    assert mine["display_name"] == "Sim Intune" and mine["last_tested_at"] is None


NEW_OPERATIONS = [
    ("patch", "/v1/integrations/{integration_id}", "IntegrationPatch"),
    ("delete", "/v1/integrations/{integration_id}", None),
    ("post", "/v1/integrations/{integration_id}/test", None),
    ("patch", "/v1/master-links/{master_link_id}", "MasterLinkPatch"),
    ("post", "/v1/master-links/{master_link_id}/pause", None),
    ("post", "/v1/master-links/{master_link_id}/resume", None),
    ("post", "/v1/master-links/{master_link_id}/settings/plan", "SettingsChange"),
    ("post", "/v1/master-links/{master_link_id}/settings/apply", "ApplySettings"),
    ("get", "/v1/master-links/{master_link_id}/settings/plans/{plan_id}", None),
]


async def test_every_new_path_is_documented_with_examples_the_server_accepts(anon) -> None:
    from ledger_api.api import admin_schemas

    openapi = (await anon.get("/openapi.json")).json()
    schemas = openapi["components"]["schemas"]
    for method, path, body in NEW_OPERATIONS:
        operation = openapi["paths"][path][method]
        assert operation["summary"] and operation["tags"], (method, path)
        assert "404" in operation["responses"], (method, path)
        if body is not None:
            examples = schemas[body]["examples"]
            model = getattr(admin_schemas, body)
            for example in examples:
                model.model_validate(example)  # what the documentation shows, the server accepts
    assert schemas["IntegrationPatch"]["properties"]["client_secret"]["anyOf"][0]["writeOnly"] is True
    assert schemas["IntegrationTest"]["examples"] and schemas["SettingsPlan"]["examples"]
    assert set(schemas["Integration"]["properties"]["state"]["enum"]) == {
        "untested",
        "connected",
        "master_linked",
        "error",
    }


async def test_after_a_rotation_the_real_intune_connector_syncs_with_the_new_secret(
    client, tap, graph
) -> None:
    """Done-when of issue 10 end to end on the connector side: the requests the API published, run
    by the real Intune connector (same secrets key) against the Graph simulator: the one sealed
    before the rotation fails with the simulator's refusal, the one after completes."""
    from connector_kit import ListPublisher
    from intune_connector.service import build_app as build_connector
    from intune_connector.settings import Settings as ConnectorSettings

    await client.post("/v1/integrations", json=intune_body(graph, client_secret=OLD_SECRET))
    link = (await client.post("/v1/master-links", json={"integration_id": "int-sim"})).json()
    resp = await client.patch("/v1/integrations/int-sim", json={"client_secret": graph.client_secret})
    assert resp.status_code == 200, resp.text
    await client.post(f"/v1/master-links/{link['master_link_id']}/sync")
    before, after = [decode_request(r) for r in await (await tap(topics.SYNC_REQUESTS)).take(2)]

    recorder = ListPublisher()
    connector = build_connector(
        ConnectorSettings(
            secrets_key=SecretStr(KEY), retry_base_delay_s=0.01, retry_max_delay_s=0.05, max_attempts=2
        ),
        publisher=recorder,
    )
    old = await connector.handle(before)
    assert old is not None and old.status == "failed"
    [refused] = [e for e in recorder.events if type(e).__name__ == "SyncRunFailed"]
    assert "invalid_client" in refused.error  # refused for its (old) secret, nothing else
    new = await connector.handle(after)
    assert new is not None and (new.status, new.devices_observed) == ("completed", 3)
    assert OLD_SECRET not in repr(recorder.events) and graph.client_secret not in repr(recorder.events)


async def test_jamf_failures_are_named_too(client, jamf) -> None:
    from mdm_sim.jamf.state import Fault

    config = jamf.sim.config
    base = {"kind": "jamf_pro", "client_id": config.client_id, "client_secret": config.client_secret}
    untrusted = base | {"integration_id": "int-jtls", "base_url": jamf.base_url}  # no ca_bundle
    trusted = base | {"integration_id": "int-j403", "base_url": jamf.base_url, "ca_bundle": str(jamf.ca_pem)}
    for body in (untrusted, trusted):
        assert (await client.post("/v1/integrations", json=body)).status_code == 201
    tls = (await client.post("/v1/integrations/int-jtls/test")).json()
    assert (tls["ok"], tls["failure"], tls["step"]) == (False, "tls", "token"), tls
    jamf.sim.faults.append(Fault(status=403, count=1, path="computers-inventory"))
    denied = (await client.post("/v1/integrations/int-j403/test")).json()
    assert (denied["ok"], denied["failure"], denied["step"]) == (False, "consent_or_permission", "devices")
    assert config.client_secret not in json.dumps([tls, denied])


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the app (structlog and the standard library, MSAL included) at DEBUG."""
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


async def test_no_secret_in_any_log_line_response_or_audit_entry_of_the_admin_paths(
    json_logs, client, db, graph, jamf
) -> None:
    """Create, test (failing and passing, MSAL and Jamf at DEBUG), rotate: the secrets never show."""
    config = jamf.sim.config
    secrets = [OLD_SECRET, graph.client_secret, config.client_secret, config.password, "Wrong-Jamf-Pw-77"]
    texts = []
    texts.append(
        (await client.post("/v1/integrations", json=intune_body(graph, client_secret=OLD_SECRET))).text
    )
    texts.append((await client.post("/v1/integrations/int-sim/test")).text)
    texts.append(
        (await client.patch("/v1/integrations/int-sim", json={"client_secret": graph.client_secret})).text
    )
    texts.append((await client.post("/v1/integrations/int-sim/test")).text)
    jamf_body = {
        "kind": "jamf_pro",
        "integration_id": "int-j",
        "base_url": jamf.base_url,
        "ca_bundle": str(jamf.ca_pem),
    }
    wrong = jamf_body | {"username": config.username, "password": "Wrong-Jamf-Pw-77"}
    texts.append((await client.post("/v1/integrations", json=wrong)).text)
    texts.append((await client.post("/v1/integrations/int-j/test")).text)
    fixed = {"client_id": config.client_id, "client_secret": config.client_secret}
    texts.append((await client.patch("/v1/integrations/int-j", json=fixed)).text)
    texts.append((await client.post("/v1/integrations/int-j/test")).text)
    results = [json.loads(t).get("ok") for t in texts[1::2]]
    assert results == [False, True, False, True], texts
    audit = json.dumps([dict(r) for r in await db.fetch("SELECT * FROM ledger.audit_log")], default=str)
    logs = json_logs.getvalue()
    assert "integration.tested" in logs
    for secret in secrets:
        for where, text in (("response", "\n".join(texts)), ("audit", audit), ("logs", logs)):
            assert secret not in text, f"a secret in the {where}"
