"""R-M1/R-I5 (seed: 'a dry-run preview before it is turned on'): a master link can be previewed as a
dry run before it exists; nothing is linked until the link is created."""

from __future__ import annotations

import pytest

from ledger_contracts import SyncRequested, codec, topics

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-M1")]


async def test_a_link_is_previewed_by_a_dry_run_before_it_exists(client, tap, db) -> None:
    body = {
        "integration_id": "int-jamf-1",
        "master_link_id": "ml-jamf-new",
        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
        "asset_number_source": "uuid",
    }
    resp = await client.post("/v1/master-links/preview", json=body)
    assert resp.status_code == 202, resp.text
    preview = resp.json()
    run = preview["sync_run"]
    assert preview["master_link_id"] == "ml-jamf-new" and run["dry_run"] is True
    assert preview["plan_url"] == f"/v1/sync-runs/{run['sync_run_id']}/plan" == resp.headers["location"]
    [record] = await (await tap(topics.SYNC_REQUESTS)).take(1)
    request = codec.decode(codec.sync_request_adapter, record.value)
    assert isinstance(request, SyncRequested) and request.dry_run is True
    assert request.master_link.master_link_id == "ml-jamf-new" and request.master_link.generation == 0
    assert str(request.sync_run_id) == run["sync_run_id"]
    # Nothing is linked: the link does not exist, and creating it afterwards works with the same id.
    assert (await client.get("/v1/master-links/ml-jamf-new")).status_code == 404
    created = await client.post("/v1/master-links", json=body)
    assert created.status_code == 201, created.text
    actions = [r["action"] for r in await db.fetch("SELECT action FROM ledger.audit_log ORDER BY audit_id")]
    assert actions[:2] == ["master_link.preview", "master_link.create"]


async def test_a_linked_integration_cannot_be_previewed_again(client, error) -> None:
    resp = await client.post("/v1/master-links/preview", json={"integration_id": "int-intune-1"})
    error(resp, 409, "already_linked")


async def test_another_tenants_integration_is_not_found(globex, error) -> None:
    resp = await globex.post("/v1/master-links/preview", json={"integration_id": "int-jamf-1"})
    error(resp, 404, "not_found")
