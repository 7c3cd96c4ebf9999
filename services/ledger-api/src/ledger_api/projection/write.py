"""Writing one batch in one transaction (SPEC §7 R-E3, R-E4): the shell around `plan_batch`.

* records below the partition's stored `next_offset` were projected already and are skipped;
* a device row is written only by a newer version (`WHERE devices.version < excluded.version`),
  and a tombstone keeps the version of a deleted device, so redelivered or reordered changes
  never move a device back in time nor resurrect it;
* history is keyed by event id and by (device, version): a duplicate adds nothing;
* a sync run's terminal status is never overwritten;
* the new offsets are stored in the same transaction.

Bulk path: the batch is COPYed into a temporary table (`StagedChange` rows, decode.py) and applied
by one statement (`_APPLY`), so 5,000 changes cost five round trips rather than 5,000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from ledger_contracts import SyncRunSummary

from .decode import STAGE_COLUMNS, Decoded, Poison
from .events import project_events
from .plan import plan_batch
from .usage import append_usage


class Connection(Protocol):
    """What the projection uses of an asyncpg connection: a pooled one (`PoolConnectionProxy`), a
    plain one, or the replay's connection that points the SQL at the scratch schema."""

    async def execute(self, query: str, /, *args: Any) -> str: ...

    async def executemany(self, command: str, args: Iterable[Sequence[Any]], /) -> None: ...

    async def fetch(self, query: str, /, *args: Any) -> list[Any]: ...

    async def fetchrow(self, query: str, /, *args: Any) -> Any: ...

    async def copy_records_to_table(
        self, table_name: str, /, *, records: Any, columns: Any = None
    ) -> str: ...

    def is_closed(self) -> bool: ...

    def terminate(self) -> None: ...


_CREATE_STAGE = """
CREATE TEMP TABLE stage_changes (
    kafka_partition integer, kafka_offset bigint,
    event_id uuid, tenant_id text, device_id uuid, version integer, change text, command_id uuid,
    occurred_at timestamptz, previous_source text, changes jsonb, provenance jsonb,
    source text, asset_number text, serial_number text, os text, manufacturer text, model text,
    assigned_user text, status text, notes text, custom_fields jsonb, binding_integration_id text,
    binding_mdm_kind text, binding_mdm_device_id text, mdm jsonb, missing_from_mdm boolean,
    last_seen_at timestamptz, created_at timestamptz, updated_at timestamptz,
    other_bindings jsonb, field_origins jsonb,
    latest boolean NOT NULL DEFAULT true
) ON COMMIT DROP
"""

_SUPERSEDED = """
UPDATE stage_changes s SET latest = false
FROM unnest($1::integer[], $2::bigint[]) AS u(p, o)
WHERE s.kafka_partition = u.p AND s.kafka_offset = u.o
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
    binding_mdm_device_id, mdm, missing_from_mdm, last_seen_at, created_at, updated_at, other_bindings,
    field_origins)
SELECT s.tenant_id, s.device_id, s.version, s.source, s.asset_number, s.serial_number, s.os,
       s.manufacturer, s.model, s.assigned_user, s.status, s.notes, s.custom_fields,
       s.binding_integration_id, s.binding_mdm_kind, s.binding_mdm_device_id, s.mdm,
       s.missing_from_mdm, s.last_seen_at, s.created_at, s.updated_at,
       coalesce(s.other_bindings, '[]'), coalesce(s.field_origins, '{}')
FROM stage_changes s
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
    created_at = excluded.created_at, updated_at = excluded.updated_at,
    other_bindings = excluded.other_bindings, field_origins = excluded.field_origins
WHERE cur.version < excluded.version
"""

_HISTORY = """
INSERT INTO ledger.device_history (
    event_id, tenant_id, device_id, version, change, changes, provenance, command_id, previous_source,
    occurred_at)
SELECT event_id, tenant_id, device_id, version, change, changes, provenance, command_id, previous_source,
       occurred_at
FROM stage_changes
ON CONFLICT DO NOTHING
"""

_SYNC_RUN = """
INSERT INTO ledger.sync_runs AS r (
    sync_run_id, tenant_id, master_link_id, integration_id, status, dry_run, seen, created, updated,
    unchanged, conflicts, missing, errors, reported_total, started_at, finished_at, error, summary_at,
    created_at, generation, skipped, warnings)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        coalesce($15::timestamptz, $18::timestamptz), $19, $20, $21)
ON CONFLICT (sync_run_id) DO UPDATE SET
    status = excluded.status, dry_run = excluded.dry_run, seen = excluded.seen, created = excluded.created,
    updated = excluded.updated, unchanged = excluded.unchanged, conflicts = excluded.conflicts,
    missing = excluded.missing, errors = excluded.errors,
    reported_total = coalesce(excluded.reported_total, r.reported_total),
    started_at = coalesce(excluded.started_at, r.started_at),
    finished_at = coalesce(excluded.finished_at, r.finished_at),
    error = excluded.error, summary_at = excluded.summary_at, generation = excluded.generation,
    skipped = excluded.skipped, warnings = excluded.warnings
WHERE r.tenant_id = excluded.tenant_id
  AND r.status IN ('requested', 'running')
  AND (r.summary_at IS NULL OR excluded.status IN ('completed', 'failed', 'refused')
       OR excluded.summary_at >= r.summary_at)
"""

# R-M14: the issues of the summary that won (its first 1,000), replacing those of an earlier one.
_RUN_ISSUES_CLEAR = "DELETE FROM ledger.sync_run_issues WHERE sync_run_id = $1"
_RUN_ISSUES = """
INSERT INTO ledger.sync_run_issues (sync_run_id, seq, tenant_id, kind, mdm_device_id, field, reason)
SELECT $1, u.seq, $2, u.kind, u.mdm_device_id, u.field, u.reason
FROM unnest($3::integer[], $4::text[], $5::text[], $6::text[], $7::text[])
     AS u(seq, kind, mdm_device_id, field, reason)
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

# The writes in one round trip (the event loop decodes the next batch meanwhile). The CTEs see
# one snapshot: fine, since a device of the batch is either deleted or upserted, not both.
_APPLY = f"""
WITH tombstoned AS ({_TOMBSTONES.strip()} RETURNING 1),
deleted AS ({_DELETES.strip()} RETURNING 1),
written AS ({_UPSERTS.strip()} RETURNING 1),
history AS ({_HISTORY.strip()} RETURNING 1),
offsets AS ({_WRITE_OFFSETS.strip()} RETURNING 1)
SELECT (SELECT count(*) FROM deleted) AS deleted, (SELECT count(*) FROM written) AS written,
       (SELECT count(*) FROM history) AS history, (SELECT count(*) FROM tombstoned) AS tombstoned,
       (SELECT count(*) FROM offsets) AS offsets
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


async def stored_offsets(conn: Connection, group_id: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
        group_id,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}


async def project_batch(
    conn: Connection,
    decoded: Sequence[Decoded],
    *,
    group_id: str,
    topic: str,
    dead_letter: DeadLetter,
) -> BatchResult:
    """Write one batch in one transaction. Poison records are dead-lettered before the commit."""
    partitions = sorted({d.partition for d in decoded})
    try:
        # BEGIN and the staging table in one round trip (asyncpg's transaction() takes two).
        await conn.execute("BEGIN; " + _CREATE_STAGE)
        rows = await conn.fetch(_READ_OFFSETS, group_id, topic, partitions)
        plan = plan_batch(decoded, {r["partition"]: r["next_offset"] for r in rows})
        parts = list(plan.next_offsets)
        offsets = [plan.next_offsets[p] for p in parts]
        written = deleted = history = runs = 0
        if plan.change_rows:
            await conn.copy_records_to_table("stage_changes", records=plan.change_rows, columns=STAGE_COLUMNS)
            if plan.superseded:
                sup_parts, sup_offsets = zip(*plan.superseded, strict=True)
                await conn.execute(_SUPERSEDED, list(sup_parts), list(sup_offsets))
            counts = await conn.fetchrow(_APPLY, group_id, topic, parts, offsets)
            deleted, written, history = counts["deleted"], counts["written"], counts["history"]
            await append_usage(conn, plan.change_rows)  # R-C3: the MDM's assigned user changed
        elif parts:
            await conn.execute(_WRITE_OFFSETS, group_id, topic, parts, offsets)
        for s in plan.summaries:
            applied = _count(await conn.execute(_SYNC_RUN, *_sync_run_args(s)))
            runs += applied
            if applied:
                await _write_issues(conn, s)
        if plan.others:
            await project_events(conn, plan.others)
        if plan.poison:
            # Before the commit: if the dead-letter write fails, the batch is retried, never lost.
            await dead_letter(plan.poison)
        await conn.execute("COMMIT")
    except BaseException:
        await _rollback(conn)
        raise
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


async def _rollback(conn: Connection) -> None:
    if conn.is_closed():
        return
    try:
        await conn.execute("ROLLBACK")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        # e.g. cancelled in the middle of a statement: a connection in an unknown state is dropped.
        conn.terminate()


def _sync_run_args(s: SyncRunSummary) -> tuple[Any, ...]:
    c = s.counts
    return (
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
        s.generation,
        c.skipped,
        c.warnings,
    )


async def _write_issues(conn: Connection, s: SyncRunSummary) -> None:
    await conn.execute(_RUN_ISSUES_CLEAR, s.sync_run_id)
    if s.issues:
        issues = s.issues
        await conn.execute(
            _RUN_ISSUES,
            s.sync_run_id,
            s.tenant_id,
            list(range(len(issues))),
            [i.kind for i in issues],
            [i.mdm_device_id for i in issues],
            [i.field for i in issues],
            [i.reason for i in issues],
        )
