"""Projecting `ledger.changes.v1` into PostgreSQL (SPEC §7 R-E3, R-E4).

Two halves: a pure one (`decode_record`, `plan_batch`) that turns Kafka records into what must be
written, and `project_batch`, which writes one batch in one transaction:

* records below the partition's stored `next_offset` were projected already and are skipped;
* a device row is written only by a newer version (`WHERE devices.version < excluded.version`),
  and a tombstone keeps the version of a deleted device, so redelivered or reordered changes
  never move a device back in time nor resurrect it;
* history is keyed by event id and by (device, version): a duplicate adds nothing;
* a sync run's terminal status is never overwritten;
* the new offsets are stored in the same transaction.

Bulk path: the batch is COPYed into a temporary table and applied with one statement per table,
so 5,000 changes cost a handful of round trips rather than 5,000.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from ledger_contracts import LedgerDeviceChanged, SyncRunSummary, codec

CONSUMER_NAME = "ledger-api"


class KafkaRecord(Protocol):
    """The part of aiokafka's ConsumerRecord the projection reads."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Poison:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """One record after decoding: exactly one of `change_row`, `summary`, `poison` is set."""

    partition: int
    offset: int
    # (event_id, tenant_id, device_id, version, change, command_id, occurred_at, doc)
    change_row: tuple[Any, ...] | None = None
    summary: SyncRunSummary | None = None
    poison: Poison | None = None


@dataclass
class BatchPlan:
    change_rows: list[tuple[Any, ...]] = field(default_factory=list)  # + `latest` flag
    summaries: list[SyncRunSummary] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    skipped: int = 0


def _inconsistency(msg: LedgerDeviceChanged) -> str | None:
    """A change the ledger cannot apply although it decodes (it goes to the dead-letter topic)."""
    dev = msg.device
    if dev is None:
        return None if msg.change == "deleted" else f"{msg.change!r} change without the device state"
    if dev.device_id != msg.device_id or dev.tenant_id != msg.tenant_id or dev.version != msg.version:
        return "device state does not match the change's device_id/tenant_id/version"
    return None


def decode_record(record: KafkaRecord) -> Decoded:
    def poison(error: str) -> Decoded:
        return Decoded(
            record.partition,
            record.offset,
            poison=Poison(record.partition, record.offset, record.key, record.value, error),
        )

    try:
        msg = codec.decode(codec.change_adapter, record.value)
    except codec.PoisonMessage as exc:
        return poison(str(exc))
    if isinstance(msg, SyncRunSummary):
        return Decoded(record.partition, record.offset, summary=msg)
    if (problem := _inconsistency(msg)) is not None:
        return poison(problem)
    row = (
        msg.event_id,
        msg.tenant_id,
        msg.device_id,
        msg.version,
        msg.change,
        msg.provenance.command_id,
        msg.occurred_at,
        # The canonical JSON (UTC timestamps, no coerced types): the SQL reads the device from it.
        msg.model_dump_json(),
    )
    return Decoded(record.partition, record.offset, change_row=row)


_TERMINAL = ("completed", "failed")


def _supersedes(new: SyncRunSummary, current: SyncRunSummary) -> bool:
    """Mirror of the SQL guard on sync_runs: a terminal status is final; otherwise newest wins."""
    if current.status in _TERMINAL:
        return False
    return new.status in _TERMINAL or new.occurred_at >= current.occurred_at


def plan_batch(decoded: Iterable[Decoded], stored_offsets: dict[int, int]) -> BatchPlan:
    """What one batch must write, given the offsets already projected per partition."""
    plan = BatchPlan()
    latest: dict[tuple[str, uuid.UUID], int] = {}  # (tenant, device) -> index of its newest change
    summaries: dict[uuid.UUID, SyncRunSummary] = {}
    rows = plan.change_rows
    for d in decoded:
        if d.offset + 1 > plan.next_offsets.get(d.partition, 0):
            plan.next_offsets[d.partition] = d.offset + 1
        if d.offset < stored_offsets.get(d.partition, 0):
            plan.skipped += 1
            continue
        if d.change_row is not None:
            key = (d.change_row[1], d.change_row[2])
            idx = latest.get(key)
            if idx is None or rows[idx][3] < d.change_row[3]:
                latest[key] = len(rows)
            rows.append(d.change_row)
        elif d.summary is not None:
            cur = summaries.get(d.summary.sync_run_id)
            if cur is None or _supersedes(d.summary, cur):
                summaries[d.summary.sync_run_id] = d.summary
        elif d.poison is not None:
            plan.poison.append(d.poison)
    newest = set(latest.values())
    plan.change_rows = [(*row, i in newest) for i, row in enumerate(rows)]
    plan.summaries = list(summaries.values())
    return plan


# --- the shell: one transaction per batch ------------------------------------------------------

_STAGE_COLUMNS = (
    "event_id",
    "tenant_id",
    "device_id",
    "version",
    "change",
    "command_id",
    "occurred_at",
    "doc",
    "latest",
)

_CREATE_STAGE = """
CREATE TEMP TABLE stage_changes (
    event_id uuid, tenant_id text, device_id uuid, version integer, change text,
    command_id uuid, occurred_at timestamptz, doc jsonb, latest boolean
) ON COMMIT DROP
"""

_TOMBSTONES = """
INSERT INTO ledger.device_tombstones AS t (tenant_id, device_id, version, deleted_at)
SELECT tenant_id, device_id, version, occurred_at FROM stage_changes WHERE latest AND change = 'deleted'
ON CONFLICT (tenant_id, device_id)
DO UPDATE SET version = excluded.version, deleted_at = excluded.deleted_at WHERE t.version < excluded.version
"""

_DELETES = """
DELETE FROM ledger.devices d USING stage_changes s
WHERE s.latest AND s.change = 'deleted'
  AND d.tenant_id = s.tenant_id AND d.device_id = s.device_id AND d.version < s.version
"""

_UPSERTS = """
INSERT INTO ledger.devices AS cur (
    tenant_id, device_id, version, source, asset_number, serial_number, os, manufacturer, model,
    assigned_user, status, notes, custom_fields, binding_integration_id, binding_mdm_kind,
    binding_mdm_device_id, mdm, missing_from_mdm, last_seen_at, created_at, updated_at)
SELECT s.tenant_id, s.device_id, s.version, d ->> 'source', d ->> 'asset_number', d ->> 'serial_number',
       d ->> 'os', d ->> 'manufacturer', d ->> 'model', d ->> 'assigned_user', d ->> 'status', d ->> 'notes',
       coalesce(d -> 'custom_fields', '{}'), d #>> '{binding,integration_id}', d #>> '{binding,mdm_kind}',
       d #>> '{binding,mdm_device_id}', nullif(d -> 'mdm', 'null'), (d ->> 'missing_from_mdm')::boolean,
       (d ->> 'last_seen_at')::timestamptz, (d ->> 'created_at')::timestamptz,
       (d ->> 'updated_at')::timestamptz
FROM stage_changes s CROSS JOIN LATERAL (SELECT s.doc -> 'device') AS x(d)
WHERE s.latest AND s.change <> 'deleted'
  AND NOT EXISTS (
      SELECT 1 FROM ledger.device_tombstones t
      WHERE t.tenant_id = s.tenant_id AND t.device_id = s.device_id AND t.version >= s.version)
ON CONFLICT (tenant_id, device_id) DO UPDATE SET
    version = excluded.version, source = excluded.source, asset_number = excluded.asset_number,
    serial_number = excluded.serial_number, os = excluded.os, manufacturer = excluded.manufacturer,
    model = excluded.model, assigned_user = excluded.assigned_user, status = excluded.status,
    notes = excluded.notes, custom_fields = excluded.custom_fields,
    binding_integration_id = excluded.binding_integration_id, binding_mdm_kind = excluded.binding_mdm_kind,
    binding_mdm_device_id = excluded.binding_mdm_device_id, mdm = excluded.mdm,
    missing_from_mdm = excluded.missing_from_mdm, last_seen_at = excluded.last_seen_at,
    created_at = excluded.created_at, updated_at = excluded.updated_at
WHERE cur.version < excluded.version
"""

_HISTORY = """
INSERT INTO ledger.device_history (
    event_id, tenant_id, device_id, version, change, changes, provenance, command_id, previous_source,
    occurred_at)
SELECT event_id, tenant_id, device_id, version, change, doc -> 'changes', doc -> 'provenance', command_id,
       doc ->> 'previous_source', occurred_at
FROM stage_changes
ON CONFLICT DO NOTHING
"""

_SYNC_RUN = """
INSERT INTO ledger.sync_runs AS r (
    sync_run_id, tenant_id, master_link_id, integration_id, status, dry_run, seen, created, updated,
    unchanged, conflicts, missing, errors, reported_total, started_at, finished_at, error, summary_at,
    created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, coalesce($15::timestamptz, $18::timestamptz))
ON CONFLICT (sync_run_id) DO UPDATE SET
    status = excluded.status, dry_run = excluded.dry_run, seen = excluded.seen, created = excluded.created,
    updated = excluded.updated, unchanged = excluded.unchanged, conflicts = excluded.conflicts,
    missing = excluded.missing, errors = excluded.errors,
    reported_total = coalesce(excluded.reported_total, r.reported_total),
    started_at = coalesce(excluded.started_at, r.started_at),
    finished_at = coalesce(excluded.finished_at, r.finished_at),
    error = excluded.error, summary_at = excluded.summary_at
WHERE r.tenant_id = excluded.tenant_id
  AND r.status IN ('requested', 'running')
  AND (r.summary_at IS NULL OR excluded.status IN ('completed', 'failed')
       OR excluded.summary_at >= r.summary_at)
"""

_READ_OFFSETS = """
SELECT partition, next_offset FROM ledger.consumer_offsets
WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::integer[])
FOR UPDATE
"""

_WRITE_OFFSETS = """
INSERT INTO ledger.consumer_offsets AS o (group_id, topic, partition, next_offset)
SELECT $1, $2, p, n FROM unnest($3::integer[], $4::bigint[]) AS u(p, n)
ON CONFLICT (group_id, topic, partition)
DO UPDATE SET next_offset = excluded.next_offset, updated_at = now()
WHERE o.next_offset < excluded.next_offset
"""


@dataclass(frozen=True)
class BatchResult:
    records: int
    skipped: int
    devices_written: int
    devices_deleted: int
    history_added: int
    sync_runs_written: int
    dead_lettered: int
    next_offsets: dict[int, int]


def _count(status: str) -> int:
    """Rows affected, from a command tag such as 'INSERT 0 12' or 'DELETE 3'."""
    return int(status.rsplit(" ", 1)[-1])


DeadLetter = Callable[[Sequence[Poison]], Awaitable[None]]


async def stored_offsets(conn: asyncpg.Connection, group_id: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
        group_id,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}


async def project_batch(
    conn: asyncpg.Connection,
    decoded: Sequence[Decoded],
    *,
    group_id: str,
    topic: str,
    dead_letter: DeadLetter,
) -> BatchResult:
    """Write one batch in one transaction. Poison records are dead-lettered before the commit."""
    partitions = sorted({d.partition for d in decoded})
    async with conn.transaction():
        rows = await conn.fetch(_READ_OFFSETS, group_id, topic, partitions)
        plan = plan_batch(decoded, {r["partition"]: r["next_offset"] for r in rows})
        written = deleted = history = runs = 0
        if plan.change_rows:
            await conn.execute(_CREATE_STAGE)
            await conn.copy_records_to_table(
                "stage_changes", records=plan.change_rows, columns=_STAGE_COLUMNS
            )
            await conn.execute(_TOMBSTONES)
            deleted = _count(await conn.execute(_DELETES))
            written = _count(await conn.execute(_UPSERTS))
            history = _count(await conn.execute(_HISTORY))
        for s in plan.summaries:
            c = s.counts
            status = await conn.execute(
                _SYNC_RUN,
                s.sync_run_id,
                s.tenant_id,
                s.master_link_id,
                s.integration_id,
                s.status,
                s.dry_run,
                c.seen,
                c.created,
                c.updated,
                c.unchanged,
                c.conflicts,
                c.missing,
                c.errors,
                s.reported_total,
                s.started_at,
                s.finished_at,
                s.error,
                s.occurred_at,
            )
            runs += _count(status)
        if plan.poison:
            # Before the commit: if the dead-letter write fails, the batch is retried, never lost.
            await dead_letter(plan.poison)
        if plan.next_offsets:
            parts = list(plan.next_offsets)
            await conn.execute(_WRITE_OFFSETS, group_id, topic, parts, [plan.next_offsets[p] for p in parts])
    return BatchResult(
        records=len(decoded),
        skipped=plan.skipped,
        devices_written=written,
        devices_deleted=deleted,
        history_added=history,
        sync_runs_written=runs,
        dead_lettered=len(plan.poison),
        next_offsets=plan.next_offsets,
    )


def dead_letter_headers(poison: Poison, topic: str) -> list[tuple[str, bytes]]:
    return codec.dead_letter_headers(poison.error, topic, poison.partition, poison.offset, CONSUMER_NAME)
