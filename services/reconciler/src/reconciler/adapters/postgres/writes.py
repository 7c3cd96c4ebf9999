"""Writing a fold's `Effects` in one transaction: COPY and set-based upserts, outbox last."""

from __future__ import annotations

import json

from ledger_contracts import LedgerDevice, codec

from ...core import ConflictRecord, match_key, normalise, priority_dict
from ...model import Effects
from .connection import Connection

_DEVICE_COLUMNS = (
    "tenant_id",
    "device_id",
    "version",
    "binding_integration_id",
    "binding_mdm_device_id",
    "serial_key",
    "asset_key",
    "doc",
)


def _device_row(d: LedgerDevice) -> tuple[object, ...]:
    b = d.binding
    return (
        d.tenant_id,
        d.device_id,
        d.version,
        b.integration_id if b else None,
        b.mdm_device_id if b else None,
        match_key(d.serial_number),
        normalise(d.asset_number),
        d.model_dump_json(),
    )


def _conflict_row(c: ConflictRecord) -> tuple[object, ...]:
    return (
        c.conflict_id,
        c.tenant_id,
        c.integration_id,
        c.mdm_device_id,
        c.sync_run_id,
        c.rule,
        list(c.candidates),
        c.observed.model_dump_json(),
        c.message,
        c.status,
        c.first_seen_at,
        c.last_seen_at,
        c.link.model_dump_json(),
        c.resolution,
        c.resolved_device_id,
        c.resolved_by,
        c.resolved_at,
    )


_UPSERT_CONFLICT = """
INSERT INTO reconciler.conflicts (conflict_id, tenant_id, integration_id, mdm_device_id, sync_run_id, rule,
    candidates, observed, message, status, first_seen_at, last_seen_at, master_link, resolution,
    resolved_device_id, resolved_by, resolved_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (conflict_id) DO UPDATE SET sync_run_id = excluded.sync_run_id, rule = excluded.rule,
    candidates = excluded.candidates, observed = excluded.observed, message = excluded.message,
    status = excluded.status, last_seen_at = excluded.last_seen_at, master_link = excluded.master_link,
    resolution = excluded.resolution, resolved_device_id = excluded.resolved_device_id,
    resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at
"""
_UPSERT_RUN = """
INSERT INTO reconciler.sync_runs (sync_run_id, tenant_id, integration_id, master_link, dry_run, status,
    counts, reported_total, started_at, finished_at, error, progress)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (sync_run_id) DO UPDATE SET status = excluded.status, counts = excluded.counts,
    reported_total = excluded.reported_total, finished_at = excluded.finished_at, error = excluded.error,
    progress = excluded.progress
"""
_UPSERT_LINK = """
INSERT INTO reconciler.link_generations (tenant_id, integration_id, master_link_id, generation, change,
    changed_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tenant_id, integration_id) DO UPDATE SET master_link_id = excluded.master_link_id,
    generation = excluded.generation, change = excluded.change, changed_at = excluded.changed_at
"""
# The observations of the integration's other finished runs: a complete run has superseded them.
_PRUNE_SEEN = """
DELETE FROM reconciler.run_seen s USING reconciler.sync_runs r
WHERE s.sync_run_id = r.sync_run_id AND r.tenant_id = $1 AND r.integration_id = $2
  AND r.sync_run_id <> $3 AND r.status <> 'running'
"""


async def write_effects(conn: Connection, fx: Effects) -> None:
    await _write_devices(conn, fx)
    if fx.runs:
        await conn.executemany(
            _UPSERT_RUN,
            [
                (
                    r.sync_run_id,
                    r.tenant_id,
                    r.integration_id,
                    r.master_link.model_dump_json(),
                    r.dry_run,
                    r.status,
                    json.dumps(r.counts),
                    r.reported_total,
                    r.started_at,
                    r.finished_at,
                    r.error,
                    json.dumps(r.progress()),
                )
                for r in fx.runs.values()
            ],
        )
    if fx.links:
        await conn.executemany(
            _UPSERT_LINK,
            [
                (g.tenant_id, g.integration_id, g.master_link_id, g.generation, g.change, g.at)
                for g in fx.links.values()
            ],
        )
    if fx.parked:
        await conn.executemany(
            "INSERT INTO reconciler.parked (tenant_id, integration_id, generation, sync_run_id, topic, "
            "partition, record_offset, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [
                (
                    p.tenant_id,
                    p.integration_id,
                    p.generation,
                    p.sync_run_id,
                    p.record.topic,
                    p.record.partition,
                    p.record.offset,
                    codec.encode(p.record.message)[1],
                )
                for p in fx.parked
            ],
        )
    if fx.former:
        await conn.executemany(
            "INSERT INTO reconciler.former_bindings (tenant_id, integration_id, mdm_device_id, device_id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, integration_id, mdm_device_id) "
            "DO UPDATE SET device_id = excluded.device_id",
            [(*key, device_id) for key, device_id in fx.former.items()],
        )
    if fx.conflicts:
        # Closed ones first: an MDM device may close one conflict and open the next in one batch,
        # and only one may be open at a time (conflicts_open).
        rows = sorted(fx.conflicts.values(), key=lambda c: c.status == "open")
        await conn.executemany(_UPSERT_CONFLICT, [_conflict_row(c) for c in rows])
    for tenant, integration in fx.forget_ignored:
        await conn.execute(
            "DELETE FROM reconciler.ignored WHERE tenant_id = $1 AND integration_id = $2", tenant, integration
        )
    if fx.ignored:
        await conn.executemany(
            "INSERT INTO reconciler.ignored (tenant_id, integration_id, mdm_device_id, conflict_id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(*key, conflict_id) for key, conflict_id in fx.ignored.items()],
        )
    await _write_seen(conn, fx)
    if fx.priority:  # R-P1
        await conn.executemany(
            "INSERT INTO reconciler.mdm_priority (tenant_id, priority, changed_at) VALUES ($1, $2, now()) "
            "ON CONFLICT (tenant_id) DO UPDATE SET priority = excluded.priority, "
            "changed_at = excluded.changed_at",
            [(tenant, json.dumps(priority_dict(p))) for tenant, p in fx.priority.items()],
        )
    if fx.link_order:  # R-P1 default: the earliest creation of a link of the integration stays
        await conn.executemany(
            "INSERT INTO reconciler.link_order AS o (tenant_id, integration_id, created_at, master_link_id) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, integration_id) DO UPDATE "
            "SET created_at = excluded.created_at, master_link_id = excluded.master_link_id "
            "WHERE (excluded.created_at, excluded.master_link_id) < (o.created_at, o.master_link_id)",
            [(t, i, at, link_id) for (t, i), (at, link_id) in fx.link_order.items()],
        )
    if fx.digests:
        await _write_digests(conn, fx)
    if fx.outbox:
        await conn.copy_records_to_table(
            "outbox",
            schema_name="reconciler",
            records=[(t, k, v, json.dumps([[h, hv.decode()] for h, hv in hs])) for t, k, v, hs in fx.outbox],
            columns=("topic", "key", "value", "headers"),
        )


async def _write_devices(conn: Connection, fx: Effects) -> None:
    if fx.deletes:
        await conn.execute(
            "DELETE FROM reconciler.devices WHERE device_id = ANY($1::uuid[])", list(fx.deletes)
        )
    if not fx.upserts:
        return
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS device_batch (LIKE reconciler.devices) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(
        "device_batch", records=[_device_row(d) for d in fx.upserts.values()], columns=_DEVICE_COLUMNS
    )
    # Rows whose keys change are removed first so that a key moving between two devices of one
    # batch never trips the unique indexes half-way through the upsert.
    await conn.execute(
        "DELETE FROM reconciler.devices d USING device_batch b WHERE d.device_id = b.device_id "
        "AND (d.asset_key IS DISTINCT FROM b.asset_key "
        "OR d.binding_mdm_device_id IS DISTINCT FROM b.binding_mdm_device_id)"
    )
    await conn.execute(
        "INSERT INTO reconciler.devices SELECT * FROM device_batch ON CONFLICT (device_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _DEVICE_COLUMNS[2:])
    )
    # A chunk of an unlink goes through this same path: clear the staging rows for the next one.
    await conn.execute("TRUNCATE device_batch")
    await _write_other_bindings(conn, fx)


async def _write_other_bindings(conn: Connection, fx: Effects) -> None:
    """R-P2: the bindings of the upserted devices beyond their primary one, rewritten with them
    (a deleted device's go with its row: ON DELETE CASCADE)."""
    await conn.execute(
        "DELETE FROM reconciler.device_bindings WHERE device_id = ANY($1::uuid[])", list(fx.upserts)
    )
    rows = [
        (d.tenant_id, o.binding.integration_id, o.binding.mdm_device_id, d.device_id)
        for d in fx.upserts.values()
        for o in d.other_bindings
    ]
    if rows:
        await conn.executemany(
            "INSERT INTO reconciler.device_bindings (tenant_id, integration_id, mdm_device_id, device_id) "
            "VALUES ($1, $2, $3, $4)",
            rows,
        )


async def _write_digests(conn: Connection, fx: Effects) -> None:
    """Issue 12 (fast_path.py): the digests of the observations the full path applied."""
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS digest_batch (LIKE reconciler.observation_digests) "
        "ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(
        "digest_batch",
        records=[(t, i, m, dev, ver, d) for (t, i, m), (dev, ver, d) in fx.digests.items()],
        columns=("tenant_id", "integration_id", "mdm_device_id", "device_id", "device_version", "digest"),
    )
    await conn.execute(
        "INSERT INTO reconciler.observation_digests SELECT * FROM digest_batch "
        "ON CONFLICT (tenant_id, integration_id, mdm_device_id) DO UPDATE SET "
        "device_id = excluded.device_id, device_version = excluded.device_version, digest = excluded.digest"
    )
    await conn.execute("TRUNCATE digest_batch")


async def _write_seen(conn: Connection, fx: Effects) -> None:
    if fx.seen:  # one row per run of the batch (its MDM ids as an array): a plain INSERT
        await conn.executemany(
            "INSERT INTO reconciler.run_seen (sync_run_id, seen_at, mdm_device_ids, reenroll_ids, "
            "reenroll_candidates) VALUES ($1, $2, $3, $4, $5)",
            [
                (
                    s.sync_run_id,
                    s.seen_at,
                    s.mdm_device_ids,
                    [m for m, _ in s.reenroll],
                    [c for _, c in s.reenroll],
                )
                for s in fx.seen.values()
            ],
        )
    for tenant, integration, keep in fx.prune_seen:
        await conn.execute(_PRUNE_SEEN, tenant, integration, keep)
    if fx.drop_seen:
        await conn.execute(
            "DELETE FROM reconciler.run_seen WHERE sync_run_id = ANY($1::uuid[])", list(fx.drop_seen)
        )
