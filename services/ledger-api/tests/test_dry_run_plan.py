"""Dry run (issue 4): DryRunPlanned items are projected and served at GET /v1/sync-runs/{id}/plan."""

from __future__ import annotations

import uuid

import pytest
from ledger_api_testing import sync_run_summary

from ledger_contracts import DryRunPlanned, FieldChange, ObservedDevice, PlannedChange

pytestmark = pytest.mark.integration


def planned(run: uuid.UUID, *items: PlannedChange, event_id: uuid.UUID | None = None) -> DryRunPlanned:
    return DryRunPlanned(tenant_id="acme", sync_run_id=run, items=items, event_id=event_id or uuid.uuid4())


async def test_plan_items_are_served_in_order_with_a_cursor_and_idempotently(
    client, globex, project, error
) -> None:
    run = uuid.uuid4()
    device = uuid.uuid4()
    first = planned(
        run,
        PlannedChange(action="create", mdm_device_id="m-1", device_id=uuid.uuid4(), changes=(
            FieldChange(field="serial_number", after="SN-1", rule="ledger_first"),
        )),
        PlannedChange(
            action="update",
            mdm_device_id="m-2",
            device_id=device,
            changes=(FieldChange(field="os", before="Windows (10)", after="Windows (11)", rule="mdm_first"),),
        ),
    )  # fmt: skip
    second = planned(
        run, PlannedChange(action="conflict", mdm_device_id="m-3", conflict_rule="ambiguous_match")
    )
    await project(first, second, first, sync_run_summary("acme", run, "completed", seen=3))  # `first` again
    page = (await client.get(f"/v1/sync-runs/{run}/plan", params={"limit": 2})).json()
    assert page["counts"] == {"create": 1, "update": 1, "conflict": 1}
    assert [i["mdm_device_id"] for i in page["items"]] == ["m-1", "m-2"]
    assert page["items"][1] == {
        "action": "update",
        "mdm_device_id": "m-2",
        "device_id": str(device),
        "changes": [{"field": "os", "before": "Windows (10)", "after": "Windows (11)", "rule": "mdm_first"}],
        "conflict_rule": None,
        "message": None,
    }
    rest = (await client.get(f"/v1/sync-runs/{run}/plan", params={"cursor": page["next_cursor"]})).json()
    assert [i["action"] for i in rest["items"]] == ["conflict"] and rest["next_cursor"] is None
    only = (await client.get(f"/v1/sync-runs/{run}/plan", params={"action": "update"})).json()["items"]
    assert [i["mdm_device_id"] for i in only] == ["m-2"]
    error(await globex.get(f"/v1/sync-runs/{run}/plan"), 404, "not_found")
    error(await client.get(f"/v1/sync-runs/{uuid.uuid4()}/plan"), 404, "not_found")
    error(await client.get(f"/v1/sync-runs/{run}/plan", params={"cursor": "x"}), 400, "invalid_parameter")


async def test_a_dry_run_through_the_reconciler_plans_and_changes_nothing(client, mdm_sync) -> None:
    resp = await client.post(
        "/v1/devices", json={"asset_number": "PC-1", "serial_number": "SN-1", "os": "Windows"}
    )
    assert resp.status_code == 201, resp.text
    before = (await client.get("/v1/devices")).json()
    run = await mdm_sync(
        [
            ObservedDevice(mdm_device_id="m-1", serial_number="SN-1", os="Windows (11)"),
            ObservedDevice(mdm_device_id="m-2", serial_number="SN-2", device_name="NEW-PC"),
        ],
        dry_run=True,
    )
    assert run["dry_run"] is True and (run["counts"]["created"], run["counts"]["updated"]) == (1, 1)
    plan = (await client.get(f"/v1/sync-runs/{run['sync_run_id']}/plan")).json()
    by_mdm = {i["mdm_device_id"]: i for i in plan["items"]}
    assert by_mdm["m-2"]["action"] == "create"
    assert by_mdm["m-1"]["action"] == "update" and by_mdm["m-1"]["device_id"] == resp.json()["device_id"]
    assert {"field": "os", "before": "Windows", "after": "Windows (11)", "rule": "mdm_first"} in by_mdm[
        "m-1"
    ]["changes"]
    assert (await client.get("/v1/devices")).json() == before
