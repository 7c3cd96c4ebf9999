"""Manual edits and "sync now": the API publishes commands and waits for the reconciler's change.

A stand-in reconciler consumes `ledger.commands.v1` and answers with a `LedgerDeviceChanged`
carrying `provenance.command_id`, as the real one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from ledger_api_testing import T0, device_changed, sync_run_summary

from ledger_contracts import (
    CreateDevice,
    DeleteDevice,
    LedgerDeviceChanged,
    SyncRequested,
    UpdateDevice,
    codec,
    topics,
)

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def reconciler(
    tap, publish, answer: Callable[[object], LedgerDeviceChanged | None]
) -> AsyncIterator[list[object]]:
    """Answer each command with `answer(command)`; yields the decoded commands as they come."""
    commands_tap = await tap(topics.COMMANDS)
    seen: list[object] = []

    async def loop() -> None:
        while True:
            for record in await commands_tap.poll():
                command = codec.decode(codec.command_adapter, record.value)
                assert record.key == command.tenant_id.encode()
                seen.append(command)
                change = answer(command)
                if change is not None:
                    await publish.changes(change)

    task = asyncio.create_task(loop())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_post_publishes_create_device_and_returns_the_projected_device(client, tap, publish) -> None:
    def answer(cmd):
        assert isinstance(cmd, CreateDevice)
        f = cmd.fields
        return device_changed(
            cmd.tenant_id,
            cmd.device_id,
            1,
            command_id=cmd.event_id,
            asset_number=f.asset_number,
            serial_number=f.serial_number,
            model=f.model,
            custom_fields=f.custom_fields or {},
        )

    defined = await client.post("/v1/custom-fields", json={"name": "cc", "type": "text", "required": False})
    assert defined.status_code == 201, defined.text
    async with reconciler(tap, publish, answer) as seen:
        resp = await client.post(
            "/v1/devices",
            json={
                "asset_number": "NEW-1",
                "serial_number": "SN-NEW",
                "model": "X1",
                "custom_fields": {"cc": "IT"},
            },
        )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    [cmd] = seen
    assert isinstance(cmd, CreateDevice) and cmd.tenant_id == "acme" and cmd.actor == "api"
    assert cmd.fields.asset_number == "NEW-1" and cmd.fields.custom_fields == {"cc": "IT"}
    assert body["device_id"] == str(cmd.device_id)
    assert resp.headers["location"] == f"/v1/devices/{cmd.device_id}"
    assert (body["asset_number"], body["serial_number"], body["model"]) == ("NEW-1", "SN-NEW", "X1")
    assert body["source"] == "manual" and body["version"] == 1 and body["custom_fields"] == {"cc": "IT"}
    history = (await client.get(f"/v1/devices/{cmd.device_id}/history")).json()["items"]
    assert history[0]["provenance"]["command_id"] == str(cmd.event_id)


async def test_patch_sends_only_the_keys_of_the_body(client, tap, publish, project) -> None:
    a = uuid.uuid4()
    await project(device_changed("acme", a, 1, asset_number="A-1", notes="old", status="in_use"))

    def answer(cmd):
        assert isinstance(cmd, UpdateDevice)
        return device_changed(
            "acme", a, 2, command_id=cmd.event_id, asset_number="A-1", notes=cmd.fields.notes, status=None
        )

    async with reconciler(tap, publish, answer) as seen:
        resp = await client.patch(f"/v1/devices/{a}", json={"notes": "new", "status": None})
    assert resp.status_code == 200, resp.text
    [cmd] = seen
    assert isinstance(cmd, UpdateDevice) and cmd.device_id == a
    # Decoded from the topic: exactly the body's keys (null included), nothing else.
    assert cmd.fields.model_fields_set == {"notes", "status"}
    assert cmd.fields.notes == "new" and cmd.fields.status is None
    body = resp.json()
    assert (body["version"], body["notes"], body["status"], body["asset_number"]) == (2, "new", None, "A-1")


async def test_delete_publishes_delete_device_and_the_device_is_gone(
    client, tap, publish, project, error
) -> None:
    a = uuid.uuid4()
    await project(device_changed("acme", a, 1, asset_number="A-1"))

    def answer(cmd):
        assert isinstance(cmd, DeleteDevice)
        return device_changed("acme", a, 2, change="deleted", command_id=cmd.event_id)

    async with reconciler(tap, publish, answer) as seen:
        resp = await client.delete(f"/v1/devices/{a}")
    assert resp.status_code == 204, resp.text
    assert [type(c) for c in seen] == [DeleteDevice] and seen[0].device_id == a
    error(await client.get(f"/v1/devices/{a}"), 404, "not_found")


async def test_a_bound_device_cannot_be_deleted_and_nothing_is_published(client, tap, project, error) -> None:
    a = uuid.uuid4()
    await project(device_changed("acme", a, 1, bound_to=("int-intune-1", "m-1"), asset_number="A-1"))
    err = error(await client.delete(f"/v1/devices/{a}"), 409, "device_bound")
    assert err["details"] == {"device_id": str(a)}
    commands_tap = await tap(topics.COMMANDS)
    assert await commands_tap.read_to_end() == []  # the refused request published nothing
    assert (await client.get(f"/v1/devices/{a}")).status_code == 200


async def test_unknown_devices_are_404_and_nothing_is_published(client, tap, error) -> None:
    missing = uuid.uuid4()
    error(await client.patch(f"/v1/devices/{missing}", json={"notes": "x"}), 404, "not_found")
    error(await client.delete(f"/v1/devices/{missing}"), 404, "not_found")
    commands_tap = await tap(topics.COMMANDS)
    assert await commands_tap.read_to_end() == []


async def test_bodies_are_validated_naming_the_offending_field(client, project, error) -> None:
    a = uuid.uuid4()
    await project(device_changed("acme", a, 1, asset_number="A-1"))
    err = error(
        await client.post("/v1/devices", json={"asset_number": "A", "colour": "red"}), 422, "invalid_body"
    )
    assert "colour" in err["message"] and err["details"][0]["field"] == "colour"
    err = error(await client.patch(f"/v1/devices/{a}", json={"model": 42}), 422, "invalid_body")
    assert err["details"][0]["field"] == "model"
    err = error(
        await client.patch(f"/v1/devices/{a}", json={"custom_fields": {"cc": 1}}), 422, "invalid_body"
    )
    assert err["details"][0]["field"] == "custom_fields.cc"
    error(await client.patch(f"/v1/devices/{a}", json={}), 422, "empty_patch")
    error(
        await client.post("/v1/devices", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_body",
    )
    error(await client.post("/v1/devices"), 422, "invalid_body")
    error(await client.post("/v1/master-links/ml-intune-1/sync", json={"dry": True}), 422, "invalid_body")


async def test_without_an_answer_the_command_is_accepted_with_its_id(app, client, tap) -> None:
    app.state.ledger.settings = app.state.ledger.settings.model_copy(update={"command_wait_seconds": 0.3})
    resp = await client.post("/v1/devices", json={"asset_number": "LATE-1"})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "accepted"
    [record] = await (await tap(topics.COMMANDS)).take(1)
    cmd = codec.decode(codec.command_adapter, record.value)
    assert body["command_id"] == str(cmd.event_id) and body["device_id"] == str(cmd.device_id)
    assert resp.headers["location"] == f"/v1/devices/{cmd.device_id}"


async def test_sync_now_publishes_sync_requested_and_creates_a_run(client, tap, project, error) -> None:
    resp = await client.post("/v1/master-links/ml-intune-1/sync", json={"dry_run": True})
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert run["status"] == "requested" and run["trigger"] == "manual" and run["dry_run"] is True
    assert run["master_link_id"] == "ml-intune-1" and run["integration_id"] == "int-intune-1"
    assert run["requested_at"] is not None and run["counts"]["seen"] == 0
    assert resp.headers["location"] == f"/v1/sync-runs/{run['sync_run_id']}"

    [record] = await (await tap(topics.SYNC_REQUESTS)).take(1)
    request = codec.decode(codec.sync_request_adapter, record.value)
    assert isinstance(request, SyncRequested) and record.key == b"acme"
    assert str(request.sync_run_id) == run["sync_run_id"]
    assert request.trigger == "manual" and request.dry_run is True and request.tenant_id == "acme"
    assert request.master_link.model_dump() == {
        "master_link_id": "ml-intune-1",
        "integration_id": "int-intune-1",
        "mdm_kind": "intune",
        "matching_key": {"mdm": "serial_number", "ledger": "asset_number"},
        "asset_number_source": "device_name",
        "generation": 0,  # R-M12: a link seeded by the bootstrap file is of the legacy generation 0
    }
    assert (await client.get(f"/v1/sync-runs/{run['sync_run_id']}")).json()["status"] == "requested"

    # The reconciler's summary advances the same run; what only the API knew is kept.
    await project(sync_run_summary("acme", request.sync_run_id, "completed", at=T0, seen=5, created=5))
    done = (await client.get(f"/v1/sync-runs/{run['sync_run_id']}")).json()
    assert (done["status"], done["counts"]["created"], done["trigger"]) == ("completed", 5, "manual")
    assert done["requested_at"] == run["requested_at"]
    assert (await client.post("/v1/master-links/ml-intune-1/sync")).json()["dry_run"] is False
    error(await client.post("/v1/master-links/nope/sync"), 404, "not_found")
