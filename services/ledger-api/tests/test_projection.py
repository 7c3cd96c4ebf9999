"""The projection: real changes from the real broker into real PostgreSQL, at least once, idempotent."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from fastapi import FastAPI
from ledger_api_testing import T0, device_changed, sync_run_summary

from devstack.testing import wait_for
from ledger_api.projection.replay import PROJECTED
from ledger_contracts import codec, topics

pytestmark = pytest.mark.integration


async def _device(db: asyncpg.Connection, device_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM ledger.devices WHERE device_id = $1", device_id)


async def _projected_through(db: asyncpg.Connection, app: FastAPI, n_records: int) -> None:
    """Wait until the consumer has stored offsets covering `n_records` records."""
    group = app.state.ledger.settings.consumer_group

    async def done() -> bool:
        total = await db.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM ledger.consumer_offsets WHERE group_id = $1", group
        )
        return bool(total >= n_records)

    await wait_for(done, timeout=30)


async def _snapshot(db: asyncpg.Connection) -> list[tuple]:
    devices = await db.fetch("SELECT * FROM ledger.devices ORDER BY device_id")
    history = await db.fetch("SELECT * FROM ledger.device_history ORDER BY event_id")
    tombs = await db.fetch("SELECT * FROM ledger.device_tombstones ORDER BY device_id")
    runs = await db.fetch("SELECT * FROM ledger.sync_runs ORDER BY sync_run_id")
    strip = {"projected_at"}
    return [
        tuple(tuple((k, v) for k, v in r.items() if k not in strip) for r in rows)
        for rows in (devices, history, tombs, runs)
    ]


async def test_changes_are_projected_with_state_history_and_mdm(app, publish, db) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    await publish.changes(
        device_changed("acme", a, 1, asset_number="A-1", serial_number="S1", os="Windows (11)"),
        device_changed("acme", a, 2, asset_number="A-1", serial_number="S1", os="Windows (11.1)"),
        device_changed(
            "acme", b, 1, bound_to=("int-intune-1", "mdm-b"), asset_number="B-1", custom_fields={"cc": "R&D"}
        ),
    )
    await _projected_through(db, app, 3)
    row_a = await _device(db, a)
    assert row_a is not None
    assert (row_a["version"], row_a["os"], row_a["source"]) == (2, "Windows (11.1)", "manual")
    assert row_a["binding_mdm_device_id"] is None and row_a["mdm"] is None
    row_b = await _device(db, b)
    assert row_b is not None
    assert row_b["source"] == "intune"
    assert (row_b["binding_integration_id"], row_b["binding_mdm_kind"], row_b["binding_mdm_device_id"]) == (
        "int-intune-1",
        "intune",
        "mdm-b",
    )
    mdm = json.loads(row_b["mdm"])
    assert mdm["mdm_device_id"] == "mdm-b" and mdm["registration_status"] == "registered"
    assert json.loads(row_b["custom_fields"]) == {"cc": "R&D"}
    history = await db.fetch(
        "SELECT version, change, changes, provenance FROM ledger.device_history WHERE device_id = $1 "
        "ORDER BY version",
        a,
    )
    assert [(h["version"], h["change"]) for h in history] == [(1, "created"), (2, "updated")]
    assert {"field": "os", "before": None, "after": "Windows (11.1)", "rule": "mdm_first"} in json.loads(
        history[1]["changes"]
    )
    assert json.loads(history[1]["provenance"])["actor"] == "sync"


async def test_redelivered_and_older_changes_change_nothing(app, publish, db) -> None:
    a = uuid.uuid4()
    v1 = device_changed("acme", a, 1, asset_number="A-1", model="old")
    v2 = device_changed("acme", a, 2, asset_number="A-1", model="new")
    await publish.changes(v1, v2)
    await _projected_through(db, app, 2)
    before = await _snapshot(db)
    # The same messages again (as a producer retry would deliver them), then an older version
    # as a distinct event (a reconciler re-emitting it): nothing may move.
    stale = device_changed("acme", a, 1, asset_number="A-1", model="stale")
    await publish.changes(v1, v2)
    await _projected_through(db, app, 4)
    assert await _snapshot(db) == before
    await publish.changes(stale)  # alone, so it is the newest change of its batch
    await _projected_through(db, app, 5)
    assert await _snapshot(db) == before
    row = await _device(db, a)
    assert row is not None and (row["version"], row["model"]) == (2, "new")


@pytest.mark.rule("R-E4")
async def test_the_topic_replayed_over_the_live_tables_changes_nothing_and_into_empty_ones_rebuilds_them(
    app, publish, db
) -> None:
    """R-E4. First the whole topic delivered again over the live tables (stored offsets gone, so
    every record comes again): nothing moves. Then every projected table emptied and the topic
    replayed from its first record: the same ledger, row for row."""
    ids = [uuid.uuid4() for _ in range(20)]
    events = [device_changed("acme", i, 1, asset_number=f"R-{n}") for n, i in enumerate(ids)]
    events += [
        device_changed("acme", i, 2, asset_number=f"R-{n}", status="in_use") for n, i in enumerate(ids)
    ]
    events += [device_changed("acme", ids[0], 3, change="deleted")]
    events += [sync_run_summary("acme", uuid.UUID(int=7), "completed", seen=20, created=20)]
    await publish.changes(*events)
    await _projected_through(db, app, len(events))
    before = await _snapshot(db)
    consumer = app.state.ledger.consumer
    await db.execute("DELETE FROM ledger.consumer_offsets")
    await consumer.seek_to_stored(list(consumer._consumer.assignment()))
    await _projected_through(db, app, len(events))
    assert await _snapshot(db) == before
    assert await db.fetchval("SELECT count(*) FROM ledger.devices") == 19

    # From empty tables: the rebuild, not a re-application the version guard turns into no-ops.
    await db.execute(f"TRUNCATE {', '.join(f'ledger.{table}' for table in PROJECTED)}")
    await db.execute("DELETE FROM ledger.consumer_offsets")
    assert await _snapshot(db) == [(), (), (), ()]
    await consumer.seek_to_stored(list(consumer._consumer.assignment()))
    await _projected_through(db, app, len(events))
    assert await _snapshot(db) == before


async def test_a_deleted_device_is_not_resurrected_by_an_old_update(app, publish, db) -> None:
    a = uuid.uuid4()
    v1 = device_changed("acme", a, 1, asset_number="A-1")
    v2 = device_changed("acme", a, 2, asset_number="A-1", notes="edited")
    await publish.changes(v1, v2, device_changed("acme", a, 3, change="deleted"))
    await _projected_through(db, app, 3)
    assert await _device(db, a) is None
    # Redelivered old changes, in separate batches and after the delete.
    await publish.changes(v2)
    await _projected_through(db, app, 4)
    await publish.changes(v1)
    await _projected_through(db, app, 5)
    assert await _device(db, a) is None
    assert await db.fetchval("SELECT version FROM ledger.device_tombstones WHERE device_id = $1", a) == 3
    assert await db.fetchval("SELECT count(*) FROM ledger.device_history WHERE device_id = $1", a) == 3


async def test_a_delete_older_than_the_device_is_ignored(app, publish, db) -> None:
    a = uuid.uuid4()
    await publish.changes(
        device_changed("acme", a, 1, asset_number="A-1"),
        device_changed("acme", a, 3, asset_number="A-1", status="in_use"),
    )
    await _projected_through(db, app, 2)
    await publish.changes(device_changed("acme", a, 2, change="deleted"))
    await _projected_through(db, app, 3)
    row = await _device(db, a)
    assert row is not None and row["version"] == 3


async def test_poison_goes_to_the_dead_letter_topic_and_the_batch_goes_on(app, publish, db, kafka) -> None:
    bootstrap, prefix = kafka
    a, b = uuid.uuid4(), uuid.uuid4()
    not_json = b"\x00not json"
    wrong_shape = json.dumps({"type": "device_changed", "tenant_id": "acme"}).encode()
    no_state = device_changed("acme", b, 2, asset_number="x").model_dump(mode="json")
    no_state["device"] = None
    no_state_bytes = json.dumps(no_state).encode()
    await publish.changes(device_changed("acme", a, 1, asset_number="before"))
    for bad in (not_json, wrong_shape, None, no_state_bytes):
        await publish.raw(topics.CHANGES, bad)
    await publish.changes(device_changed("acme", a, 2, asset_number="after"))
    await _projected_through(db, app, 6)
    row = await _device(db, a)
    assert row is not None and row["asset_number"] == "after"
    assert await _device(db, b) is None

    dlq = topics.dlq(topics.named(topics.CHANGES, prefix))
    consumer = AIOKafkaConsumer(dlq, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = []

        async def four() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            got.extend(r for recs in batch.values() for r in recs)
            return len(got) >= 4

        await wait_for(four, timeout=30)
    finally:
        await consumer.stop()
    assert sorted((r.value or b"") for r in got) == sorted([not_json, wrong_shape, b"", no_state_bytes])
    for r in got:
        headers = dict(r.headers)
        assert headers["x-original-topic"] == topics.named(topics.CHANGES, prefix).encode()
        assert headers["x-consumer"] == b"ledger-api"
        assert headers["x-error"]
        assert int(headers["x-original-offset"]) >= 0
    assert app.state.ledger.metrics.dead_letters._value.get() == 4


async def test_sync_run_summaries_never_overwrite_a_terminal_status(app, publish, db) -> None:
    run = uuid.uuid4()
    await publish.changes(
        sync_run_summary("acme", run, "running", at=T0, seen=10),
        sync_run_summary("acme", run, "running", at=T0 + timedelta(seconds=5), seen=50),
        sync_run_summary("acme", run, "completed", at=T0 + timedelta(seconds=9), seen=100, created=90),
    )
    await _projected_through(db, app, 3)
    # A late "running" (redelivered or reordered) and a second terminal status.
    await publish.changes(
        sync_run_summary("acme", run, "running", at=T0 + timedelta(seconds=6), seen=60),
        sync_run_summary("acme", run, "failed", at=T0 + timedelta(seconds=20), seen=1),
    )
    await _projected_through(db, app, 5)
    row = await db.fetchrow("SELECT * FROM ledger.sync_runs WHERE sync_run_id = $1", run)
    assert (row["status"], row["seen"], row["created"], row["reported_total"]) == ("completed", 100, 90, 100)
    assert row["finished_at"] == T0 + timedelta(seconds=9)


async def test_records_below_the_stored_offset_are_skipped(database_url) -> None:
    """The same batch handed to project_batch twice is applied once (redelivery after a crash
    between the database commit and the Kafka commit)."""
    from ledger_api.adapters import db as dbmod
    from ledger_api.projection.decode import decode_record
    from ledger_api.projection.write import project_batch

    class Rec:
        def __init__(self, offset: int, value: bytes) -> None:
            self.partition, self.offset, self.key, self.value = 0, offset, b"acme", value

    pool = await dbmod.create_pool(database_url, min_size=1, max_size=2)
    try:
        await dbmod.apply_migrations(pool)
        a = uuid.uuid4()
        records = [
            Rec(0, codec.encode(device_changed("acme", a, 1, asset_number="x"))[1]),
            Rec(1, codec.encode(device_changed("acme", a, 2, asset_number="y"))[1]),
        ]
        decoded = [decode_record(r) for r in records]
        dead: list = []

        async def dead_letter(poison) -> None:
            dead.extend(poison)

        async with pool.acquire() as conn:
            first = await project_batch(conn, decoded, group_id="g", topic="t", dead_letter=dead_letter)
            second = await project_batch(conn, decoded, group_id="g", topic="t", dead_letter=dead_letter)
        assert (first.skipped, first.devices_written, first.history_added) == (0, 1, 2)
        assert (second.skipped, second.devices_written, second.history_added) == (2, 0, 0)
        assert second.next_offsets == {0: 2}
        assert await pool.fetchval("SELECT next_offset FROM ledger.consumer_offsets") == 2
        assert dead == []
    finally:
        await pool.close()
