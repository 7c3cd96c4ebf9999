"""Issue 4 through the real broker and PostgreSQL: conflicts and their resolution by command,
re-enrollment, missing devices, unlink keep/delete, dry run — messages in, events out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from devstack.kafka_io import publish, read_topic
from ledger_contracts import (
    ConflictRecorded,
    ConflictResolved,
    CreateDevice,
    DeviceFieldsInput,
    DeviceObserved,
    DryRunPlanned,
    Event,
    LedgerDeviceChanged,
    MasterLinkSettings,
    ObservedDevice,
    ResolveConflict,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    SyncRunSummary,
    UnlinkMasterLink,
    codec,
    topics,
)
from reconciler.service import Reconciler
from reconciler.settings import Settings

pytestmark = pytest.mark.integration
TENANT = "acme"
LINK = MasterLinkSettings(master_link_id="ml", integration_id="intune-1", mdm_kind="intune")


def observed(mdm_id: str, serial: str | None = None, **kw: Any) -> ObservedDevice:
    return ObservedDevice(mdm_device_id=mdm_id, uuid=mdm_id, serial_number=serial or f"SN-{mdm_id}", **kw)


def run(
    devices: list[ObservedDevice], *, dry_run: bool = False, end: str = "completed"
) -> tuple[uuid.UUID, list]:
    run_id = uuid.uuid4()
    common = {"tenant_id": TENANT, "sync_run_id": run_id, "integration_id": LINK.integration_id}
    msgs: list[Event] = [
        SyncRunStarted(tenant_id=TENANT, sync_run_id=run_id, master_link=LINK, dry_run=dry_run)
    ]
    msgs += [DeviceObserved(device=d, **common) for d in devices]
    if end == "completed":
        msgs.append(SyncRunCompleted(devices_observed=len(devices), **common))
    elif end == "failed":
        msgs.append(SyncRunFailed(devices_observed=len(devices), error="token expired", **common))
    return run_id, msgs


async def changes(settings: Settings) -> list[Any]:
    return await read_topic(
        settings.kafka_bootstrap_servers,
        topics.named(topics.CHANGES, settings.topic_prefix),
        codec.change_adapter,
    )


async def wait_event(settings: Settings, found: Callable[[Any], bool], timeout: float = 30) -> list[Any]:
    """Every change published so far, once one of them satisfies `found`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        out = await changes(settings)
        if any(found(e) for e in out):
            return out
    raise TimeoutError("no such event")


async def sync(settings: Settings, app: Reconciler, devices: list[ObservedDevice], **kw: Any) -> list[Any]:
    """Publish a run and wait for its final summary; returns every change so far."""
    run_id, msgs = run(devices, **kw)
    await publish(settings.kafka_bootstrap_servers, app.snapshots, msgs)
    return await wait_event(settings, lambda e: _ended(e, run_id))


def _ended(e: Any, run_id: uuid.UUID) -> bool:
    return isinstance(e, SyncRunSummary) and e.sync_run_id == run_id and e.status != "running"


async def command(settings: Settings, app: Reconciler, cmd: Event, found: Callable[[Any], bool]) -> list[Any]:
    await publish(settings.kafka_bootstrap_servers, app.commands, [cmd])
    return await wait_event(settings, found)


def last_summary(out: list[Any]) -> SyncRunSummary:
    return [e for e in out if isinstance(e, SyncRunSummary)][-1]


def device_changes(out: list[Any]) -> list[LedgerDeviceChanged]:
    return [e for e in out if isinstance(e, LedgerDeviceChanged)]


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_conflict_is_recorded_once_and_resolved_by_a_command(
    settings: Settings, reconciler: Reconciler
) -> None:
    twins = [
        CreateDevice(
            tenant_id=TENANT, device_id=uuid.uuid4(), fields=DeviceFieldsInput(serial_number="SN-m0")
        )
        for _ in range(2)
    ]
    await publish(settings.kafka_bootstrap_servers, reconciler.commands, twins)
    # Commands and snapshots are different topics: wait until the twins exist before the sync.
    await wait_event(settings, lambda e: getattr(e, "device_id", None) == twins[1].device_id)
    await wait_event(settings, lambda e: getattr(e, "device_id", None) == twins[0].device_id)
    await sync(settings, reconciler, [observed("m0"), observed("m1")])
    out = await sync(settings, reconciler, [observed("m0"), observed("m1")])  # the same conflict again
    (recorded,) = [e for e in out if isinstance(e, ConflictRecorded)]  # published once, not per re-sync
    assert recorded.rule == "ambiguous_match" and set(recorded.candidates) == {t.device_id for t in twins}
    assert last_summary(out).counts.conflicts == 1

    stranger = ResolveConflict(
        tenant_id=TENANT, conflict_id=recorded.conflict_id, resolution="link", device_id=uuid.uuid4()
    )
    out = await command(
        settings, reconciler, stranger, lambda e: getattr(e, "command_id", None) == stranger.event_id
    )
    assert [e.code for e in out if e.type == "command_rejected"] == ["not_a_candidate"]

    link = ResolveConflict(
        tenant_id=TENANT, conflict_id=recorded.conflict_id, resolution="link", device_id=twins[1].device_id
    )
    out = await command(settings, reconciler, link, lambda e: isinstance(e, ConflictResolved))
    (resolved,) = [e for e in out if isinstance(e, ConflictResolved)]
    assert (resolved.resolution, resolved.device_id, resolved.command_id) == (
        "link",
        twins[1].device_id,
        link.event_id,
    )
    bound = [e for e in device_changes(out) if e.device_id == twins[1].device_id][-1]
    assert bound.device and bound.device.binding and bound.device.binding.mdm_device_id == "m0"
    assert bound.provenance.command_id == link.event_id and bound.provenance.actor == "manual"
    rows = await fetch(
        settings.database_url, "SELECT status, resolution, resolved_by FROM reconciler.conflicts"
    )
    assert [tuple(r) for r in rows] == [("resolved", "link", link.event_id)]


async def test_reenrolled_device_keeps_its_id_and_follows_the_new_mdm_id(
    settings: Settings, reconciler: Reconciler
) -> None:
    out = await sync(settings, reconciler, [observed("old", "SN-RE"), observed("other")])
    device_id = next(
        e.device_id for e in device_changes(out) if e.device and e.device.serial_number == "SN-RE"
    )
    out = await sync(settings, reconciler, [observed("new", "SN-RE"), observed("other")])
    moved = [e for e in device_changes(out) if e.device_id == device_id][-1]
    assert moved.device and moved.device.binding and moved.device.binding.mdm_device_id == "new"
    change = next(c for c in moved.changes if c.field == "binding")
    assert (change.before, change.after, change.rule) == ("old", "new", "binding")
    assert moved.provenance.actor == "sync" and moved.provenance.sync_run_id == last_summary(out).sync_run_id
    (resolved,) = [e for e in out if isinstance(e, ConflictResolved)]
    assert (resolved.resolution, resolved.device_id) == ("auto_reenrolled", device_id)
    assert last_summary(out).counts.missing == 0  # the old id moved on; nothing went missing


async def test_missing_devices_are_marked_after_a_complete_run_and_unmarked_when_back(
    settings: Settings, reconciler: Reconciler
) -> None:
    five = [observed(f"m{i}") for i in range(5)]
    await sync(settings, reconciler, five)
    out = await sync(settings, reconciler, five[:1], end="failed")
    assert not [e for e in device_changes(out) if e.device and e.device.missing_from_mdm]  # failed: nothing
    out = await sync(settings, reconciler, five[:3])
    marked = [e for e in device_changes(out) if e.device and e.device.missing_from_mdm]
    assert sorted(e.device.binding.mdm_device_id for e in marked) == ["m3", "m4"]  # type: ignore[union-attr]  # filtered on e.device
    assert all(e.device.last_seen_at < last_summary(out).started_at for e in marked)  # type: ignore[operator,union-attr]  # filtered on e.device
    assert last_summary(out).counts.missing == 2
    # Only the latest complete run's observations are kept (they date a device a later run misses).
    kept = await fetch(settings.database_url, "SELECT DISTINCT sync_run_id FROM reconciler.run_seen")
    assert [r["sync_run_id"] for r in kept] == [last_summary(out).sync_run_id]
    before = len(device_changes(out))
    out = await sync(settings, reconciler, five)
    back = device_changes(out)[before:]
    assert len(back) == 2 and all(e.device and not e.device.missing_from_mdm for e in back)


async def test_a_run_whose_record_of_seen_devices_was_lost_marks_nothing(
    settings: Settings, reconciler: Reconciler
) -> None:
    """run_seen is UNLOGGED: a PostgreSQL crash empties it. The run must then not conclude that
    every device is gone."""
    await sync(settings, reconciler, [observed(f"m{i}") for i in range(4)])
    run_id, msgs = run([observed(f"m{i}") for i in range(4)])
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, msgs[:-1])
    await wait_event(settings, lambda e: isinstance(e, SyncRunSummary) and e.sync_run_id == run_id)
    await _until_processed(settings.database_url, run_id, 4)
    await fetch(settings.database_url, "TRUNCATE reconciler.run_seen")  # what a crash would leave
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, msgs[-1:])
    out = await wait_event(settings, lambda e: _ended(e, run_id))
    summary = last_summary(out)
    assert summary.counts.missing == 0 and summary.error and "lost" in summary.error
    assert not [e for e in device_changes(out) if e.device and e.device.missing_from_mdm]


async def _until_processed(url: str, run_id: uuid.UUID, seen: int) -> None:
    for _ in range(200):
        rows = await fetch(url, "SELECT counts FROM reconciler.sync_runs WHERE sync_run_id = $1", run_id)
        if rows and f'"seen": {seen}' in rows[0]["counts"]:
            return
        await asyncio.sleep(0.05)  # polling the stored counts until the run reports them
    raise TimeoutError


async def test_unlink_keep_then_delete_in_chunks(
    settings: Settings, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reconciler.pipeline.CHUNK", 7)  # 30 devices: five chunks in one transaction
    devices = [observed(f"m{i}") for i in range(30)]
    await sync(settings, reconciler, devices)
    keep = UnlinkMasterLink(
        tenant_id=TENANT, master_link_id="ml", integration_id="intune-1", keep_devices=True
    )
    kept = await unlinked(settings, reconciler, keep, 30)
    assert all(e.change == "source_changed" and e.device and e.device.source == "manual" for e in kept)
    assert all(e.device.binding is None and e.device.mdm is None for e in kept)  # type: ignore[union-attr]  # filtered on e.device
    bound = "SELECT 1 FROM reconciler.devices WHERE binding_integration_id IS NOT NULL"
    assert not await fetch(settings.database_url, bound)

    out = await sync(settings, reconciler, devices)  # linked again: the manual devices match by serial
    assert (last_summary(out).counts.updated, last_summary(out).counts.created) == (30, 0)
    delete = keep.model_copy(update={"event_id": uuid.uuid4(), "keep_devices": False})
    deleted = await unlinked(settings, reconciler, delete, 30)
    assert all(e.change == "deleted" and e.provenance.actor == "unlink" for e in deleted)
    assert not await fetch(settings.database_url, "SELECT 1 FROM reconciler.devices")


async def unlinked(
    settings: Settings, app: Reconciler, cmd: UnlinkMasterLink, n: int
) -> list[LedgerDeviceChanged]:
    """Publish the command; the device changes it caused, once there are `n` of them."""
    await publish(settings.kafka_bootstrap_servers, app.commands, [cmd])
    for _ in range(60):
        mine = [e for e in device_changes(await changes(settings)) if e.provenance.command_id == cmd.event_id]
        if len(mine) >= n:
            return mine
    raise TimeoutError(f"{cmd.type}: fewer than {n} device changes")


async def test_dry_run_publishes_the_plan_and_changes_nothing(
    settings: Settings, reconciler: Reconciler
) -> None:
    await sync(settings, reconciler, [observed("m0"), observed("m1")])
    before = await fetch(
        settings.database_url, "SELECT device_id, version, doc FROM reconciler.devices ORDER BY 1"
    )
    out = await sync(settings, reconciler, [observed("m0", os="iOS (18.0)"), observed("m9")], dry_run=True)
    (plan,) = [e for e in out if isinstance(e, DryRunPlanned)]
    items = {(i.action, i.mdm_device_id): i for i in plan.items}
    assert set(items) == {("update", "m0"), ("create", "m9"), ("mark_missing", "m1")}
    assert [(c.field, c.before, c.after) for c in items[("update", "m0")].changes] == [
        ("os", None, "iOS (18.0)")
    ]
    summary = last_summary(out)
    assert summary.dry_run and (summary.counts.created, summary.counts.updated, summary.counts.missing) == (
        1,
        1,
        1,
    )
    after = await fetch(
        settings.database_url, "SELECT device_id, version, doc FROM reconciler.devices ORDER BY 1"
    )
    assert after == before
    assert not await fetch(
        settings.database_url, "SELECT 1 FROM reconciler.run_seen WHERE sync_run_id = $1", summary.sync_run_id
    )
