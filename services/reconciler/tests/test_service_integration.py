"""The reconciler service against the real broker and PostgreSQL: at-least-once, idempotent."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.kafka_io import publish, read_topic
from devstack.testing import wait_for
from ledger_contracts import (
    CreateDevice,
    DeviceFieldsInput,
    DeviceObserved,
    LedgerDeviceChanged,
    MasterLinkSettings,
    ObservedDevice,
    SyncRunCompleted,
    SyncRunStarted,
    SyncRunSummary,
    codec,
    topics,
)
from reconciler.service import Reconciler, build_app
from reconciler.settings import Settings

pytestmark = pytest.mark.integration
LINK = MasterLinkSettings(master_link_id="ml", integration_id="intune-1", mdm_kind="intune")


def run_events(n: int, tenant: str = "acme", run_id: uuid.UUID | None = None) -> list:
    run_id = run_id or uuid.uuid4()
    devices = [
        DeviceObserved(
            tenant_id=tenant,
            sync_run_id=run_id,
            integration_id="intune-1",
            device=ObservedDevice(
                mdm_device_id=f"m{i}", uuid=f"m{i}", serial_number=f"SN{i}", os="iOS (17.5)"
            ),
        )
        for i in range(n)
    ]
    return [
        SyncRunStarted(tenant_id=tenant, sync_run_id=run_id, master_link=LINK),
        *devices,
        SyncRunCompleted(tenant_id=tenant, sync_run_id=run_id, integration_id="intune-1", devices_observed=n),
    ]


async def changes(settings: Settings, until: int | None = None) -> list:
    return await read_topic(
        settings.kafka_bootstrap_servers,
        topics.named(topics.CHANGES, settings.topic_prefix),
        codec.change_adapter,
        until=until,
    )


async def test_a_run_creates_devices_and_a_summary(settings: Settings, reconciler: Reconciler) -> None:
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, run_events(50))
    out = await changes(settings, until=52)
    created = [e for e in out if isinstance(e, LedgerDeviceChanged)]
    summaries = [e for e in out if isinstance(e, SyncRunSummary)]
    assert len(created) == 50 and all(e.change == "created" and e.version == 1 for e in created)
    assert [s.status for s in summaries] == ["running", "completed"]
    assert summaries[-1].counts.created == 50 and summaries[-1].counts.seen == 50


async def test_second_identical_sync_changes_nothing(settings: Settings, reconciler: Reconciler) -> None:
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, run_events(20))
    await changes(settings, until=22)
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, run_events(20))
    out = await changes(settings, until=24)
    assert sum(isinstance(e, LedgerDeviceChanged) for e in out) == 20
    last = [e for e in out if isinstance(e, SyncRunSummary)][-1]
    assert (last.status, last.counts.unchanged, last.counts.created, last.counts.updated) == (
        "completed",
        20,
        0,
        0,
    )


async def test_redelivered_batch_changes_nothing(settings: Settings, reconciler: Reconciler) -> None:
    """The same records (same partition and offsets) handled again: skipped by the stored offset."""
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, run_events(10))
    await changes(settings, until=12)
    raw = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, enable_auto_commit=False)
    await raw.start()
    try:
        raw.assign([TopicPartition(reconciler.snapshots, p) for p in range(3)])
        await raw.seek_to_beginning()
        batch: dict = {}
        while sum(len(v) for v in batch.values()) < 12:
            for tp, recs in (await raw.getmany(timeout_ms=500)).items():
                batch.setdefault(tp, []).extend(recs)
    finally:
        await raw.stop()
    before = await _state(settings.database_url)
    reconciler._consumer.commit = _noop  # type: ignore[method-assign,union-attr]  # started: a consumer
    await reconciler.handle(batch)
    assert await _state(settings.database_url) == before
    assert len(await changes(settings)) == 12  # nothing new published (read until idle)


async def _noop(*_a: object, **_k: object) -> None:
    return None


async def _state(url: str) -> list:
    conn = await asyncpg.connect(url)
    try:
        return [
            tuple(r)
            for r in await conn.fetch("SELECT device_id, version, doc FROM reconciler.devices ORDER BY 1")
        ]
    finally:
        await conn.close()


async def test_crash_after_commit_before_publish_loses_nothing(settings: Settings) -> None:
    first = build_app(settings)
    await first.start()

    async def crash(*_a: object, **_k: object) -> None:
        raise ConnectionError("simulated crash while publishing")

    await publish(settings.kafka_bootstrap_servers, first.snapshots, run_events(5))
    first._producer.send = crash  # type: ignore[method-assign,union-attr]  # a crash while publishing
    with pytest.raises(ConnectionError):
        while True:
            b = await first._consumer.getmany(timeout_ms=500)  # type: ignore[union-attr]  # started
            if b:
                await first.handle(b)
    await first._consumer.stop()  # type: ignore[union-attr]  # started
    await first._pool.close()  # type: ignore[union-attr]  # started
    second = build_app(settings)
    await second.start()  # publishes the committed outbox first
    task = asyncio.create_task(second.run())
    try:
        out = await changes(settings, until=7)
        assert sum(isinstance(e, LedgerDeviceChanged) for e in out) == 5
        assert any(isinstance(e, SyncRunSummary) and e.status == "completed" for e in out)
    finally:
        task.cancel()
        await second.stop()


async def test_poison_record_goes_to_dead_letter_topic(settings: Settings, reconciler: Reconciler) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(reconciler.commands, b'{"type": "create_device"}', key=b"acme")
        cmd = CreateDevice(
            tenant_id="acme", device_id=uuid.uuid4(), fields=DeviceFieldsInput(asset_number="A1")
        )
        key, value = codec.encode(cmd)
        await producer.send_and_wait(reconciler.commands, value, key=key)
    finally:
        await producer.stop()
    dead = await read_topic(settings.kafka_bootstrap_servers, topics.dlq(reconciler.commands), until=1)
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert b"tenant_id" in headers["x-error"] and headers["x-original-topic"] == reconciler.commands.encode()
    out = await changes(settings, until=1)  # the good command after it was still applied
    assert isinstance(out[0], LedgerDeviceChanged) and out[0].provenance.command_id == cmd.event_id


async def test_device_of_unknown_run_is_dead_lettered(settings: Settings, reconciler: Reconciler) -> None:
    orphan = run_events(1)[1]
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, [orphan])
    dead = await read_topic(settings.kafka_bootstrap_servers, topics.dlq(reconciler.snapshots), until=1)
    assert b"unknown" in dict(dead[0].headers)["x-error"]
    await wait_for(lambda: _offset_stored(settings), timeout=10)


async def _offset_stored(settings: Settings) -> bool:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM reconciler.consumer_offsets"))
    finally:
        await conn.close()
