"""End to end through real processes, issue 9 item 8 (security): with an Intune and a Jamf Pro
integration connected over the API, tested with bad credentials, their secrets rotated, tested
again, linked and synced, no secret of the run — client secrets and passwords (old and new), the
Fernet key, the API tokens — appears in ANY file of the stack's log directory (every service, the
simulators, the broker, the database) nor in ANY API response body of the run. The one exception,
by design: the answer that creates a token shows that token once (left out of the response search;
the token is still searched for in the logs and in every other answer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e

# Wrong credentials given first (distinctive, so a leak of them is found too).
WRONG_INTUNE_SECRET = "wrong-Entra-secret~Qx7Zk2Lp9Vw4"
WRONG_JAMF_SECRET = "wrong-jamf-client-secret-Hn5Rt8Yb3"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e-secrets")) / "stack",
        intune_devices=6,
        jamf_computers=3,
        jamf_mobiles=2,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


class Recorder:
    """Every response body of the run, to search for secrets afterwards."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, **kw: Any) -> httpx.Response:
        resp = self.client.request(method, path, **kw)
        self.bodies.append(f"{method} {path} -> {resp.status_code}\n{resp.headers}\n{resp.text}")
        return resp


def _connect_test_rotate_test(
    call: Recorder, integration_id: str, create: dict[str, Any], rotate: dict[str, Any]
) -> None:
    created = call("POST", "/v1/integrations", json={"integration_id": integration_id, **create})
    assert created.status_code == 201, created.text
    failed = call("POST", f"/v1/integrations/{integration_id}/test")
    assert failed.status_code == 200 and failed.json()["ok"] is False, failed.text
    assert failed.json()["failure"] == "authentication", failed.text
    rotated = call("PATCH", f"/v1/integrations/{integration_id}", json=rotate)
    assert rotated.status_code == 200, rotated.text
    passed = call("POST", f"/v1/integrations/{integration_id}/test")
    assert passed.status_code == 200 and passed.json()["ok"] is True, passed.text


@pytest.mark.rule("R-A1", "R-A3")
def test_no_secret_in_any_log_or_response(stack: Stack) -> None:
    intune, jamf = stack.sims["intune"], stack.sims["jamf"]
    with stack.client() as c:
        call = Recorder(c)
        _connect_test_rotate_test(
            call,
            "int-sec-intune",
            {
                "kind": "intune",
                "azure_tenant_id": intune["azure_tenant_id"],
                "client_id": intune["client_id"],
                "client_secret": WRONG_INTUNE_SECRET,
                "authority_url": intune["authority_url"],
                "graph_base_url": intune["graph_base_url"],
                "ca_bundle": intune["ca"],
            },
            {"client_secret": intune["client_secret"]},
        )
        _connect_test_rotate_test(
            call,
            "int-sec-jamf",
            {
                "kind": "jamf_pro",
                "base_url": jamf["base_url"],
                "client_id": jamf["client_id"],
                "client_secret": WRONG_JAMF_SECRET,
                "ca_bundle": jamf["ca"],
            },
            # the rotation switches to user sign-in: the password is a secret too
            {"username": jamf["username"], "password": jamf["password"]},
        )
        for integration_id in ("int-sec-intune", "int-sec-jamf"):
            linked = call("POST", "/v1/master-links", json={"integration_id": integration_id})
            assert linked.status_code == 201, linked.text
            run = stack.wait_run(linked.json()["sync_run"]["sync_run_id"], timeout=120)
            assert run["status"] == "completed", run
            again = call("POST", f"/v1/master-links/{linked.json()['master_link_id']}/sync", json={})
            assert again.status_code == 202, again.text
            assert stack.wait_run(again.json()["sync_run_id"], timeout=120)["status"] == "completed"
            call("GET", f"/v1/sync-runs/{run['sync_run_id']}")
        # a seeded integration (credentials from the bootstrap file, sealed) synced too
        seeded = stack.sync("ml-jamf-demo")
        assert stack.wait_run(seeded["sync_run_id"], timeout=120)["status"] == "completed"

        # a read token: its create answer shows it once (by design, not searched), then it is used
        made = c.post("/v1/tokens", json={"name": "reporting", "scopes": ["read"]})
        assert made.status_code == 201, made.text
        read_token = made.json()["token"]
        with httpx.Client(
            base_url=stack.api_url, headers={"Authorization": f"Bearer {read_token}"}, trust_env=False
        ) as service:
            reader = Recorder(service)
            assert reader("GET", "/v1/devices").status_code == 200
            assert reader("POST", "/v1/master-links/ml-jamf-demo/sync", json={}).status_code == 403
            call.bodies += reader.bodies

        # every read an administrator or a console makes
        for path in (
            "/v1/integrations",
            "/v1/integrations/int-sec-intune",
            "/v1/integrations/int-sec-jamf",
            "/v1/integrations/int-jamf-demo",
            "/v1/master-links?include_removed=true",
            "/v1/sync-runs",
            "/v1/devices?limit=1000",
            "/v1/audit-log?limit=1000",
            "/v1/tokens",
            "/v1/tokens/current",
            "/v1/tenant",
            "/openapi.json",
            "/metrics",
        ):
            resp = call("GET", path)
            assert resp.status_code == 200, (path, resp.text)

    secrets = {
        "wrong Intune client secret": WRONG_INTUNE_SECRET,
        "Intune client secret": intune["client_secret"],
        "wrong Jamf client secret": WRONG_JAMF_SECRET,
        "Jamf client secret": jamf["client_secret"],
        "Jamf password": jamf["password"],
        "Fernet secrets key": stack.config.secrets_key,
        "admin API token": stack.config.token,
        "read API token": read_token,
    }
    assert all(len(s) >= 8 for s in secrets.values()), "a secret too short to search for meaningfully"
    responses = "\n".join(call.bodies)
    assert "int-sec-jamf" in responses and "completed" in responses  # the search covers the run
    log_files = [p for p in (stack.config.root / "logs").rglob("*") if p.is_file()]
    assert {"ledger-api.log", "reconciler.log", "intune-connector.log", "jamf-connector.log"} <= {
        p.name for p in log_files
    }, sorted(p.name for p in log_files)
    # the search finds a secret where one is by design (the demo bootstrap file, outside the logs)
    assert stack.config.token.encode() in (stack.config.root / "ledger-bootstrap.json").read_bytes()
    leaks = []
    for name, secret in secrets.items():
        if secret in responses:
            leaks.append(f"the {name} is in an API response")
        for log_file in log_files:
            if secret.encode() in log_file.read_bytes():
                leaks.append(f"the {name} is in {log_file.relative_to(stack.config.root)}")
    assert leaks == []
