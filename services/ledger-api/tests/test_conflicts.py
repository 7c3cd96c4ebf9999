"""Conflicts (R-M9): projected from ConflictRecorded / ConflictResolved, listed with their
candidates, and resolved by a person through the reconciler."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from ledger_api_testing import T0, device_changed

from devstack.testing import wait_for
from ledger_contracts import (
    CommandRejected,
    ConflictRecorded,
    ConflictResolved,
    ObservedDevice,
    ResolveConflict,
    codec,
    topics,
)

pytestmark = pytest.mark.integration


def recorded(
    conflict_id: uuid.UUID, candidates: tuple[uuid.UUID, ...], *, at: int = 0, tenant: str = "acme", **kw
):
    return ConflictRecorded(
        tenant_id=tenant,
        conflict_id=conflict_id,
        integration_id="int-intune-1",
        mdm_device_id=kw.pop("mdm_device_id", "m-1"),
        sync_run_id=uuid.UUID(int=7),
        rule=kw.pop("rule", "ambiguous_match"),
        candidates=candidates,
        observed=ObservedDevice(mdm_device_id="m-1", serial_number=kw.pop("serial", "SN-1")),
        message="serial_number 'SN-1' matches 2 ledger devices by serial_number",
        occurred_at=T0 + timedelta(minutes=at),
    )


async def test_conflicts_are_projected_idempotently_and_listed_newest_first(
    client, globex, project, error
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await project(device_changed("acme", a, 1, asset_number="A-1", serial_number="SN-1"))
    older = recorded(first, (a, b), at=1)
    newer = recorded(first, (a,), at=5, serial="SN-1b", rule="bound_to_other_integration")
    await project(
        older,
        newer,
        older,  # redelivered after a newer one: the newest content stays
        recorded(second, (b,), at=2, mdm_device_id="m-2"),
        recorded(third, (a,), at=3, mdm_device_id="m-3"),
        ConflictResolved(
            tenant_id="acme", conflict_id=third, resolution="ignore", command_id=uuid.uuid4(), occurred_at=T0
        ),
        recorded(uuid.uuid4(), (a,), tenant="globex"),
    )
    page = (await client.get("/v1/conflicts", params={"limit": 2})).json()
    assert [c["conflict_id"] for c in page["items"]] == [str(third), str(second)]
    rest = (await client.get("/v1/conflicts", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [c["conflict_id"] for c in rest["items"]] == [str(first)] and rest["next_cursor"] is None
    opened = (await client.get("/v1/conflicts", params={"status": "open"})).json()["items"]
    assert [c["conflict_id"] for c in opened] == [str(second), str(first)]
    one = (await client.get(f"/v1/conflicts/{first}")).json()
    assert (one["status"], one["rule"], one["observed"]["serial_number"]) == (
        "open",
        "bound_to_other_integration",
        "SN-1b",
    )
    assert one["recorded_at"] == "2026-11-26T06:01:00Z" and one["updated_at"] == "2026-11-26T06:05:00Z"
    assert one["candidates"] == [
        {
            "device_id": str(a),
            "exists": True,
            "source": "manual",
            "asset_number": "A-1",
            "serial_number": "SN-1",
            "model": None,
            "assigned_user": None,
            "bound_to": None,
        }
    ]
    assert (await client.get(f"/v1/conflicts/{second}")).json()["candidates"] == [
        {"device_id": str(b), "exists": False}
    ]
    ended = (await client.get(f"/v1/conflicts/{third}")).json()
    assert (ended["status"], ended["resolution"]) == ("resolved", "ignore")
    error(await globex.get(f"/v1/conflicts/{first}"), 404, "not_found")
    assert len((await globex.get("/v1/conflicts")).json()["items"]) == 1
    error(await client.get("/v1/conflicts", params={"status": "closed"}), 400, "invalid_parameter")
    error(await client.get("/v1/conflicts", params={"cursor": "nope"}), 400, "invalid_parameter")


async def test_resolve_is_checked_then_published_and_a_refusal_is_reported(
    client, globex, project, tap, publish, error
) -> None:
    a, b, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    open_one, done = uuid.uuid4(), uuid.uuid4()
    await project(
        recorded(open_one, (a, b)),
        recorded(done, (a,), mdm_device_id="m-9"),
        ConflictResolved(tenant_id="acme", conflict_id=done, resolution="create", device_id=other),
    )
    url = f"/v1/conflicts/{open_one}/resolve"
    error(await globex.post(url, json={"resolution": "ignore"}), 404, "not_found")
    error(
        await client.post(f"/v1/conflicts/{uuid.uuid4()}/resolve", json={"resolution": "ignore"}),
        404,
        "not_found",
    )
    err = error(
        await client.post(url, json={"resolution": "link", "device_id": str(other)}), 422, "not_a_candidate"
    )
    assert set(err["details"][0]["candidates"]) == {str(a), str(b)}
    error(await client.post(url, json={"resolution": "link"}), 422, "not_a_candidate")
    error(await client.post(url, json={"resolution": "create", "device_id": str(a)}), 422, "invalid_body")
    error(await client.post(url, json={"resolution": "merge"}), 422, "invalid_body")
    err = error(
        await client.post(f"/v1/conflicts/{done}/resolve", json={"resolution": "ignore"}),
        409,
        "conflict_not_open",
    )
    commands = await tap(topics.COMMANDS)
    assert await commands.read_to_end() == []  # every refusal above published nothing

    async def refuse() -> None:
        [record] = await commands.take(1)
        command = codec.decode(codec.command_adapter, record.value)
        assert (
            isinstance(command, ResolveConflict) and command.device_id == b and command.resolution == "link"
        )
        await publish.changes(
            CommandRejected(
                tenant_id="acme",
                command_id=command.event_id,
                device_id=b,
                code="candidate_bound_to_other_integration",
                message=f"device {b} is bound to integration int-jamf-1",
            )
        )

    refusing = asyncio.create_task(refuse())
    err = error(
        await client.post(url, json={"resolution": "link", "device_id": str(b)}),
        409,
        "candidate_bound_to_other_integration",
    )
    await refusing
    assert err["details"]["device_id"] == str(b)


async def test_an_ambiguous_sync_is_listed_and_resolved_through_the_reconciler(client, mdm_sync) -> None:
    """End to end in-process: two ledger devices share a serial; the sync refuses to guess (R-M9);
    a person links the MDM device to one of them, and a second conflict is resolved by `create`."""
    twins = []
    for asset in ("PC-A", "PC-B"):
        resp = await client.post("/v1/devices", json={"asset_number": asset, "serial_number": "SN-DUP"})
        assert resp.status_code == 201, resp.text
        twins.append(resp.json()["device_id"])
    run = await mdm_sync(
        [
            ObservedDevice(
                mdm_device_id="m-1", serial_number="SN-DUP", device_name="DESKTOP-1", os="Windows (11)"
            ),
            ObservedDevice(mdm_device_id="m-2", serial_number="sn-dup", device_name="DESKTOP-2"),
        ]
    )
    assert run["counts"]["conflicts"] == 2 and run["counts"]["created"] == 0
    conflicts = (await client.get("/v1/conflicts", params={"status": "open"})).json()["items"]
    by_mdm = {c["mdm_device_id"]: c for c in conflicts}
    assert set(by_mdm) == {"m-1", "m-2"}
    first = by_mdm["m-1"]
    assert first["rule"] == "ambiguous_match" and first["sync_run_id"] == run["sync_run_id"]
    assert sorted(c["device_id"] for c in first["candidates"]) == sorted(twins)
    assert first["observed"]["device_name"] == "DESKTOP-1"

    resp = await client.post(
        f"/v1/conflicts/{first['conflict_id']}/resolve", json={"resolution": "link", "device_id": twins[1]}
    )
    assert resp.status_code == 200, resp.text
    linked = resp.json()
    assert (linked["status"], linked["resolution"], linked["resolved_device_id"]) == (
        "resolved",
        "link",
        twins[1],
    )
    device = (await client.get(f"/v1/devices/{twins[1]}")).json()
    assert device["binding"]["mdm_device_id"] == "m-1" and device["source"] == "intune"
    assert device["os"] == "Windows (11)"
    [change] = (await client.get(f"/v1/devices/{twins[1]}/history", params={"limit": 1})).json()["items"]
    assert (
        change["provenance"]["actor"] == "manual"
        and change["provenance"]["command_id"] == linked["resolved_by"]
    )
    assert change["provenance"]["sync_run_id"] == run["sync_run_id"]

    second = by_mdm["m-2"]
    resp = await client.post(f"/v1/conflicts/{second['conflict_id']}/resolve", json={"resolution": "create"})
    assert resp.status_code == 200, resp.text
    created_id = resp.json()["resolved_device_id"]
    assert created_id not in twins
    created = (await wait_for(lambda: _device(client, created_id))).json()
    assert created["binding"]["mdm_device_id"] == "m-2"
    assert (await client.get("/v1/conflicts", params={"status": "open"})).json()["items"] == []


async def _device(client, device_id):  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v1/devices/{device_id}")
    return resp if resp.status_code == 200 else None
