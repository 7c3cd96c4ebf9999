"""End to end through real processes, issue 5: an administrator connects an MDM over the API (its
secret sealed by the API, carried to the connector inside the sync request — the connectors have no
integrations file here), links it (the first full sync runs at once), and unlinks it (R-S4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig
from devstack.testing import poll_until

pytestmark = pytest.mark.e2e
DEVICES = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e")) / "stack",
        intune_devices=DEVICES,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


@pytest.mark.rule("R-S3", "R-S4")
def test_connect_link_sync_and_unlink_over_the_api(stack: Stack) -> None:
    assert not list(stack.config.root.glob("*-integrations.json"))  # the connectors have no file
    sim = stack.sims["intune"]
    with stack.client() as c:
        created = c.post(
            "/v1/integrations",
            json={
                "kind": "intune",
                "integration_id": "int-via-api",
                "display_name": "Added over the API",
                "azure_tenant_id": sim["azure_tenant_id"],
                "client_id": sim["client_id"],
                "client_secret": sim["client_secret"],
                "authority_url": sim["authority_url"],
                "graph_base_url": sim["graph_base_url"],
                "ca_bundle": sim["ca"],
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["has_secret"] is True and sim["client_secret"] not in created.text

        linked = c.post(
            "/v1/master-links",
            json={"integration_id": "int-via-api", "asset_number_source": "uuid"},
        )
        assert linked.status_code == 201, linked.text
        link = linked.json()
        assert link["sync_run"]["trigger"] == "link_created"

        run = stack.wait_run(link["sync_run"]["sync_run_id"], timeout=120)
        assert run["status"] == "completed", run
        assert (run["counts"]["seen"], run["counts"]["created"]) == (DEVICES, DEVICES)
        assert stack.count_devices(source="intune") == DEVICES
        assert c.get("/v1/integrations/int-via-api").json()["state"] == "master_linked"

        unlinked = c.delete(f"/v1/master-links/{link['master_link_id']}?keep_devices=true")
        assert unlinked.status_code == 202, unlinked.text
    # R-S4: the devices stay, as manual devices, once the reconciler has applied the unlink.
    poll_until(lambda: stack.count_devices(source="manual") == DEVICES)
    assert stack.count_devices(source="intune") == 0
    with stack.client() as c:
        assert c.get("/v1/integrations/int-via-api").json()["state"] == "connected"
        assert c.get(f"/v1/master-links/{link['master_link_id']}").json()["status"] == "removed"
    logs = "\n".join(p.read_text(errors="replace") for p in (stack.config.root / "logs").glob("*.log"))
    assert sim["client_secret"] not in logs
