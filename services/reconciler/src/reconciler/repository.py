"""SQL of the reconciler's state (schema `reconciler`). Batches use COPY and set-based upserts."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterable

import asyncpg

from ledger_contracts import LedgerDevice, MasterLinkSettings

from .batch import Effects, Needs, RunState
from .core import Ledger, match_key, normalise

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


async def lock_tenants(conn: asyncpg.Connection, tenant_ids: Iterable[str]) -> None:
    """One writer per tenant at a time: snapshots and commands of a tenant may sit on partitions
    owned by different reconciler replicas. Locks are taken in a fixed order (no deadlock)."""
    for tenant in sorted(set(tenant_ids)):
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", 0x4C44, zlib.crc32(tenant.encode()) - 2**31
        )


async def load_runs(conn: asyncpg.Connection, run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RunState]:
    rows = await conn.fetch(
        "SELECT * FROM reconciler.sync_runs WHERE sync_run_id = ANY($1::uuid[])", list(set(run_ids))
    )
    return {
        r["sync_run_id"]: RunState(
            sync_run_id=r["sync_run_id"],
            tenant_id=r["tenant_id"],
            master_link=MasterLinkSettings.model_validate_json(r["master_link"]),
            dry_run=r["dry_run"],
            status=r["status"],
            counts=json.loads(r["counts"]),
            started_at=r["started_at"],
            reported_total=r["reported_total"],
            finished_at=r["finished_at"],
            error=r["error"],
        )
        for r in rows
    }


_LOAD_BOUND = """
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])
UNION ALL
SELECT d.device_id, d.doc FROM unnest($3::text[], $4::text[]) AS b(i, m),
  LATERAL (SELECT device_id, doc FROM reconciler.devices
           WHERE tenant_id = $1 AND binding_integration_id = b.i AND binding_mdm_device_id = b.m) d
"""
_LOAD_KEYS = """
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND serial_key = ANY($2::text[])
UNION ALL
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND asset_key = ANY($3::text[])
"""
# One index range scan per prefix (LATERAL keeps the planner from scanning the table per prefix).
_LOAD_PREFIXED = """
SELECT d.device_id, d.doc FROM unnest($2::text[]) AS p(prefix),
  LATERAL (SELECT device_id, doc FROM reconciler.devices
           WHERE tenant_id = $1 AND asset_key >= p.prefix AND asset_key < p.prefix || chr(1114111)) d
"""


def _add(ledger: Ledger, rows: list[asyncpg.Record]) -> None:
    for r in rows:
        if r["device_id"] not in ledger.devices:
            ledger.put(LedgerDevice.model_validate_json(r["doc"]))


async def load_ledgers(conn: asyncpg.Connection, needs: dict[str, Needs]) -> dict[str, Ledger]:
    """Load what the core may read, in up to three steps; a no-change re-sync needs only the first."""
    ledgers: dict[str, Ledger] = {}
    for tenant, n in needs.items():
        ledger = Ledger(tenant)
        bindings = list(n.observed)
        _add(
            ledger,
            await conn.fetch(
                _LOAD_BOUND, tenant, list(n.device_ids), [b[0] for b in bindings], [b[1] for b in bindings]
            ),
        )
        serials: set[str] = set()
        assets: set[str] = set(n.asset_keys)
        chains: set[str] = set()
        for (integration_id, mdm_device_id), want in n.observed.items():
            bound = ledger.bound_to(integration_id, mdm_device_id)
            if bound is None and want.match_key:
                (serials if want.ledger_key == "serial_number" else assets).add(want.match_key)
            if want.asset_key and (bound is None or not bound.asset_number):
                assets.update((want.asset_key, "SYS" + want.asset_key))
                chains.add(want.asset_key)
        if serials or assets:
            _add(ledger, await conn.fetch(_LOAD_KEYS, tenant, list(serials), list(assets)))
        # The chain SYS<n>-2, -3, … matters only where SYS<n> itself is taken (rare).
        prefixes = [f"SYS{a}-" for a in chains if ledger.asset_number_owner("SYS" + a) is not None]
        if prefixes:
            _add(ledger, await conn.fetch(_LOAD_PREFIXED, tenant, prefixes))
        ledgers[tenant] = ledger
    return ledgers


def _device_row(d: LedgerDevice) -> tuple:
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


async def write_effects(conn: asyncpg.Connection, fx: Effects) -> None:
    if fx.deletes:
        await conn.execute(
            "DELETE FROM reconciler.devices WHERE device_id = ANY($1::uuid[])", list(fx.deletes)
        )
    if fx.upserts:
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
    if fx.runs:
        await conn.executemany(
            """INSERT INTO reconciler.sync_runs (sync_run_id, tenant_id, master_link, dry_run, status, counts,
                   reported_total, started_at, finished_at, error)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (sync_run_id) DO UPDATE SET status = excluded.status, counts = excluded.counts,
                   reported_total = excluded.reported_total, finished_at = excluded.finished_at,
                   error = excluded.error""",
            [
                (
                    r.sync_run_id,
                    r.tenant_id,
                    r.master_link.model_dump_json(),
                    r.dry_run,
                    r.status,
                    json.dumps(r.counts),
                    r.reported_total,
                    r.started_at,
                    r.finished_at,
                    r.error,
                )
                for r in fx.runs.values()
            ],
        )
    if fx.conflicts:
        await conn.executemany(
            """INSERT INTO reconciler.conflicts (conflict_id, tenant_id, integration_id, mdm_device_id,
                   sync_run_id, rule, candidates, observed, message, first_seen_at, last_seen_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
               ON CONFLICT (tenant_id, integration_id, mdm_device_id) DO UPDATE SET
                   sync_run_id = excluded.sync_run_id, rule = excluded.rule, candidates = excluded.candidates,
                   observed = excluded.observed, message = excluded.message,
                   last_seen_at = excluded.last_seen_at""",
            [
                (
                    uuid.uuid5(
                        uuid.NAMESPACE_URL,
                        f"{c.tenant_id}/{c.conflict.integration_id}/{c.conflict.observed.mdm_device_id}",
                    ),
                    c.tenant_id,
                    c.conflict.integration_id,
                    c.conflict.observed.mdm_device_id,
                    c.sync_run_id,
                    c.conflict.rule,
                    list(c.conflict.candidates),
                    c.conflict.observed.model_dump_json(),
                    c.conflict.message,
                    c.at,
                )
                for c in fx.conflicts
            ],
        )
    if fx.outbox:
        await conn.copy_records_to_table(
            "outbox",
            schema_name="reconciler",
            records=[(t, k, v, json.dumps([[h, hv.decode()] for h, hv in hs])) for t, k, v, hs in fx.outbox],
            columns=("topic", "key", "value", "headers"),
        )


async def next_offsets(conn: asyncpg.Connection, group: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM reconciler.consumer_offsets WHERE group_id = $1 AND topic = $2",
        group,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}


async def store_offsets(conn: asyncpg.Connection, group: str, offsets: dict[tuple[str, int], int]) -> None:
    await conn.executemany(
        """INSERT INTO reconciler.consumer_offsets (group_id, topic, partition, next_offset)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset""",
        [(group, t, p, o) for (t, p), o in offsets.items()],
    )


async def pending_outbox(conn: asyncpg.Connection, limit: int = 20000) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT seq, topic, key, value, headers FROM reconciler.outbox ORDER BY seq LIMIT $1", limit
    )


async def delete_outbox(conn: asyncpg.Connection, up_to_seq: int) -> None:
    await conn.execute("DELETE FROM reconciler.outbox WHERE seq <= $1", up_to_seq)
