"""End to end through real processes, issue 10 (R-A3, R-A4): an administrator connects an Intune
tenant whose client secret has expired, rotates the secret, links it (the first sync uses the new
secret), syncs now, moves the sync time (the link's and the tenant's default), creates a read-only
token for another service and revokes it; the audit log then holds every one of these actions with
who/what/when, and no secret of the run appears in any audit entry or any response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e
DEVICES = 8
EXPIRED_SECRET = "expired-Entra-secret~0000"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e-audit")) / "stack",
        intune_devices=DEVICES,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:  # the Stack lets the API reach the simulators on loopback (R-X2)
        yield s


class Recorder:
    """Every response body of the walkthrough, to search for secrets afterwards."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = self.client.request(method, path, **kw)
        self.bodies.append(resp.text)
        return resp


@pytest.mark.rule("R-A3", "R-A4")
def test_every_admin_action_is_audited_and_no_secret_is(stack: Stack) -> None:
    sim = stack.sims["intune"]
    with stack.client() as c:
        call = Recorder(c)
        openapi = call("GET", "/openapi.json").json()
        me = call("GET", "/v1/tokens/current").json()
        assert me["scopes"] == ["admin"]

        # 1. connect (the secret given has expired), then rotate it
        created = call(
            "POST",
            "/v1/integrations",
            json={
                "kind": "intune",
                "integration_id": "int-audited",
                "display_name": "Audited Intune",
                "azure_tenant_id": sim["azure_tenant_id"],
                "client_id": sim["client_id"],
                "client_secret": EXPIRED_SECRET,
                "authority_url": sim["authority_url"],
                "graph_base_url": sim["graph_base_url"],
                "ca_bundle": sim["ca"],
            },
        )
        assert created.status_code == 201, created.text
        rotated = call("PATCH", "/v1/integrations/int-audited", json={"client_secret": sim["client_secret"]})
        assert rotated.status_code == 200, rotated.text

        # 2. link: the first full sync runs with the rotated secret
        linked = call(
            "POST", "/v1/master-links", json={"integration_id": "int-audited", "asset_number_source": "uuid"}
        )
        assert linked.status_code == 201, linked.text
        link_id = linked.json()["master_link_id"]
        first = stack.wait_run(linked.json()["sync_run"]["sync_run_id"], timeout=120)
        assert first["status"] == "completed", first
        assert first["counts"]["seen"] == DEVICES

        # 3. sync now
        now = call("POST", f"/v1/master-links/{link_id}/sync", json={})
        assert now.status_code == 202, now.text
        second = stack.wait_run(now.json()["sync_run_id"], timeout=120)
        assert second["status"] == "completed", second

        # 4. change the sync time: the link's (when the API has the PATCH) and the tenant's default
        actions_expected = {
            ("integration.create", "int-audited"),
            ("integration.update", "int-audited"),
            ("master_link.create", link_id),
            ("master_link.sync_now", link_id),
            ("tenant.update", "demo"),
        }
        if "patch" in openapi["paths"].get("/v1/master-links/{master_link_id}", {}):
            moved = call("PATCH", f"/v1/master-links/{link_id}", json={"schedule": {"local_time": "07:30"}})
            assert moved.status_code == 200, moved.text
            assert moved.json()["schedule"]["local_time"] == "07:30"
            actions_expected.add(("master_link.update", link_id))
        tenant = call("PATCH", "/v1/tenant", json={"default_sync_time": "05:45"})
        assert tenant.status_code == 200 and tenant.json()["default_sync_time"] == "05:45", tenant.text

        # 5. a read-only token for another service: it reads, it cannot write; then it is revoked
        # (this one answer shows the new token, once, by design: it is left out of the search below)
        reader = c.post("/v1/tokens", json={"name": "reporting service", "scopes": ["read"]})
        assert reader.status_code == 201, reader.text
        read_secret, read_id = reader.json()["token"], reader.json()["token_id"]
        with httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {read_secret}"}, trust_env=False
        ) as service:
            assert service.get("/v1/devices", params={"source": "intune"}).status_code == 200
            forbidden = service.post(f"/v1/master-links/{link_id}/sync", json={})
            assert forbidden.status_code == 403 and "admin" in forbidden.json()["error"]["message"]
            assert service.get("/v1/audit-log").status_code == 403
            assert call("DELETE", f"/v1/tokens/{read_id}").status_code == 204
            assert service.get("/v1/devices").status_code == 401  # revoked at once
        actions_expected |= {("token.create", read_id), ("token.revoke", read_id)}

        # 6. the audit log, every page
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = call(
                "GET", "/v1/audit-log", params={"limit": "2"} | ({"cursor": cursor} if cursor else {})
            )
            assert page.status_code == 200, page.text
            entries += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break

    recorded = {(e["action"], e["target_id"]) for e in entries}
    assert actions_expected <= recorded, actions_expected - recorded
    assert all(e["actor"] == {"token_id": me["token_id"], "name": "bootstrap"} for e in entries)
    update = next(e for e in entries if e["action"] == "integration.update")
    assert update["after"].get("secrets_rotated") == ["client_secret"]

    secrets = {
        "expired client secret": EXPIRED_SECRET,
        "rotated client secret": sim["client_secret"],
        "read token": read_secret,
        "admin token": stack.config.token,
        "secrets key": stack.config.secrets_key,
    }
    audit_text = json.dumps(entries)
    responses_text = "\n".join(call.bodies)
    for name, secret in secrets.items():
        assert secret not in audit_text, f"the {name} is in the audit log"
        assert secret not in responses_text, f"the {name} is in a response"
    logs = "\n".join(p.read_text(errors="replace") for p in (stack.config.root / "logs").glob("*.log"))
    for name in ("expired client secret", "rotated client secret", "read token"):
        assert secrets[name] not in logs, f"the {name} is in a log"
