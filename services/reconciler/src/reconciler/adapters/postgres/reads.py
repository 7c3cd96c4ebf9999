"""SQL of the reconciler's state (schema `reconciler`): loading what a batch may read.

Loads are set-based (one statement per kind of row, `unnest` + LATERAL lookups); writes are in
writes.py. `PgStore` is the `Store` of pipeline.py over one connection inside one transaction.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterable
from datetime import datetime

import asyncpg
import structlog

from ledger_contracts import LedgerDevice, MasterLinkSettings, ObservedDevice, codec

from ...core import (
    ConflictRecord,
    Ledger,
    LinkGeneration,
    MdmPriority,
    RunEnd,
    binding_of,
    link_order,
    priority_of,
)
from ...handlers import add_wanted
from ...model import Effects, Needs, Record, RunState, State, Wanted
from .connection import Connection
from .writes import write_effects

log = structlog.get_logger(__name__)


async def lock_tenants(conn: Connection, tenant_ids: Iterable[str]) -> None:
    """One writer per tenant at a time: snapshots and commands of a tenant may sit on partitions
    owned by different reconciler replicas. Locks are taken in a fixed order (no deadlock)."""
    for tenant in sorted(set(tenant_ids)):
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, $2)", 0x4C44, zlib.crc32(tenant.encode()) - 2**31
        )


def _run(r: asyncpg.Record) -> RunState:
    run = RunState(
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
    run.restore(json.loads(r["progress"]))
    return run


def conflict_record(r: asyncpg.Record) -> ConflictRecord | None:
    if r["master_link"] is None:  # recorded before 0002 by a run whose row is gone: cannot be applied
        log.warning("conflict.without_settings", conflict_id=str(r["conflict_id"]))
        return None
    return ConflictRecord(
        conflict_id=r["conflict_id"],
        tenant_id=r["tenant_id"],
        link=MasterLinkSettings.model_validate_json(r["master_link"]),
        sync_run_id=r["sync_run_id"],
        rule=r["rule"],
        candidates=tuple(r["candidates"]),
        observed=ObservedDevice.model_validate_json(r["observed"]),
        message=r["message"],
        first_seen_at=r["first_seen_at"],
        last_seen_at=r["last_seen_at"],
        status=r["status"],
        resolution=r["resolution"],
        resolved_device_id=r["resolved_device_id"],
        resolved_by=r["resolved_by"],
        resolved_at=r["resolved_at"],
    )


_LOAD_BOUND = """
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])
UNION ALL
SELECT d.device_id, d.doc FROM unnest($3::text[], $4::text[]) AS b(i, m),
  LATERAL (SELECT device_id, doc FROM reconciler.devices
           WHERE tenant_id = $1 AND binding_integration_id = b.i AND binding_mdm_device_id = b.m) d
UNION ALL
SELECT d.device_id, d.doc FROM unnest($3::text[], $4::text[]) AS b(i, m)
  JOIN reconciler.device_bindings x ON x.tenant_id = $1 AND x.integration_id = b.i AND x.mdm_device_id = b.m
  JOIN reconciler.devices d ON d.device_id = x.device_id  -- R-P2: a binding beyond the primary
"""
_LOAD_KEYS = """
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND serial_key = ANY($2::text[])
UNION ALL
SELECT device_id, doc FROM reconciler.devices WHERE tenant_id = $1 AND asset_key = ANY($3::text[])
"""
# Issue 12 (fast_path.py): the bindings whose stored digest equals the observation's, whose device
# is still at the version the digest was stored at, and that have no open conflict. One index
# lookup per binding (LATERAL, as above); the device documents are not read.
_FRESH_DIGESTS = """
SELECT b.i, b.m FROM unnest($2::text[], $3::text[], $4::bytea[]) AS b(i, m, h),
  LATERAL (SELECT o.device_id, o.device_version FROM reconciler.observation_digests o
           WHERE o.tenant_id = $1 AND o.integration_id = b.i AND o.mdm_device_id = b.m
             AND o.digest = b.h) o
WHERE EXISTS (SELECT 1 FROM reconciler.devices d WHERE d.device_id = o.device_id
                AND d.version = o.device_version)
  AND NOT EXISTS (SELECT 1 FROM reconciler.conflicts c WHERE c.tenant_id = $1 AND c.integration_id = b.i
                    AND c.mdm_device_id = b.m AND c.status = 'open')
"""
# One index range scan per prefix (LATERAL keeps the planner from scanning the table per prefix).
_LOAD_PREFIXED = """
SELECT d.device_id, d.doc FROM unnest($2::text[]) AS p(prefix),
  LATERAL (SELECT device_id, doc FROM reconciler.devices
           WHERE tenant_id = $1 AND asset_key >= p.prefix AND asset_key < p.prefix || chr(1114111)) d
"""
# Per unbound MDM device: its open conflict (R-M9) and whether a person chose to ignore it, in one
# round trip (a no-change re-sync asks this for every device that conflicted last time).
_LOAD_UNBOUND_STATE = """
SELECT k.i AS key_integration, k.m AS key_mdm, g.mdm_device_id IS NOT NULL AS ignored, c.*
FROM unnest($2::text[], $3::text[]) AS k(i, m)
LEFT JOIN reconciler.ignored g ON g.tenant_id = $1 AND g.integration_id = k.i AND g.mdm_device_id = k.m
LEFT JOIN LATERAL (SELECT * FROM reconciler.conflicts
                   WHERE tenant_id = $1 AND integration_id = k.i AND mdm_device_id = k.m
                     AND status = 'open') c ON true
WHERE g.mdm_device_id IS NOT NULL OR c.conflict_id IS NOT NULL
"""
# R-M10: bound devices of the integration the run did not report. EXCEPT is always hashed or
# sorted: run_seen grows from empty within seconds, and with stale statistics an anti-join could
# be planned as a nested loop over 100,000 x 100,000 rows.
_UNSEEN = """
SELECT d.device_id, d.doc FROM (
    SELECT binding_mdm_device_id FROM reconciler.devices WHERE tenant_id = $1 AND binding_integration_id = $2
    UNION ALL  -- R-P4: the integration's bindings beyond a device's primary one
    SELECT mdm_device_id FROM reconciler.device_bindings WHERE tenant_id = $1 AND integration_id = $2
    EXCEPT
    SELECT unnest(mdm_device_ids) FROM reconciler.run_seen WHERE sync_run_id = $3
  ) AS gone(m),
  LATERAL (SELECT device_id, doc FROM reconciler.devices
           WHERE tenant_id = $1 AND binding_integration_id = $2 AND binding_mdm_device_id = gone.m
           UNION ALL
           SELECT d.device_id, d.doc FROM reconciler.device_bindings x
             JOIN reconciler.devices d ON d.device_id = x.device_id
           WHERE x.tenant_id = $1 AND x.integration_id = $2 AND x.mdm_device_id = gone.m
           LIMIT 1) d  -- one row per binding (unique); LIMIT keeps it an index lookup per gone id
"""
_LAST_SEEN = """
SELECT m AS mdm_device_id, max(s.seen_at) AS seen_at
FROM reconciler.run_seen s JOIN reconciler.sync_runs r ON r.sync_run_id = s.sync_run_id,
     unnest(s.mdm_device_ids) AS m
WHERE r.tenant_id = $1 AND r.integration_id = $2 AND NOT r.dry_run AND m = ANY($3::text[])
GROUP BY m
"""
# R-M13: which MDM ids of this batch an earlier batch of the run already reported.
_SEEN_BEFORE = """
SELECT DISTINCT m FROM reconciler.run_seen, unnest(mdm_device_ids) AS m
WHERE sync_run_id = $1 AND m = ANY($2::text[])
"""
# R-S7: kept devices an unlink remembers for MDM devices that are not bound.
_LOAD_FORMER = """
SELECT f.integration_id, f.mdm_device_id, d.device_id, d.doc
FROM unnest($2::text[], $3::text[]) AS k(i, m)
JOIN reconciler.former_bindings f ON f.tenant_id = $1 AND f.integration_id = k.i AND f.mdm_device_id = k.m
JOIN reconciler.devices d ON d.device_id = f.device_id
"""
_RUN_SEEN = """
SELECT coalesce(sum(cardinality(mdm_device_ids)), 0)::int FROM reconciler.run_seen WHERE sync_run_id = $1
"""
_REENROLL = """
SELECT p.mdm_device_id, p.candidate
FROM reconciler.run_seen, unnest(reenroll_ids, reenroll_candidates) AS p(mdm_device_id, candidate)
WHERE sync_run_id = $1
"""


class PgStore:
    """The `Store` over one connection, inside the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def load_runs(self, run_ids: set[uuid.UUID]) -> dict[uuid.UUID, RunState]:
        if not run_ids:
            return {}
        rows = await self.conn.fetch(
            "SELECT * FROM reconciler.sync_runs WHERE sync_run_id = ANY($1::uuid[])", list(run_ids)
        )
        return {r["sync_run_id"]: _run(r) for r in rows}

    async def load_conflicts(self, conflict_ids: set[uuid.UUID]) -> dict[uuid.UUID, ConflictRecord]:
        if not conflict_ids:
            return {}
        rows = await self.conn.fetch(
            "SELECT * FROM reconciler.conflicts WHERE conflict_id = ANY($1::uuid[])", list(conflict_ids)
        )
        return {c.conflict_id: c for r in rows if (c := conflict_record(r)) is not None}

    async def load_links(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], LinkGeneration]:
        rows = await self.conn.fetch(
            "SELECT l.* FROM unnest($1::text[], $2::text[]) AS k(t, i) JOIN reconciler.link_generations l "
            "ON l.tenant_id = k.t AND l.integration_id = k.i",
            [t for t, _ in keys],
            [i for _, i in keys],
        )
        return {
            (r["tenant_id"], r["integration_id"]): LinkGeneration(
                r["tenant_id"],
                r["integration_id"],
                r["master_link_id"],
                r["generation"],
                r["change"],
                r["changed_at"],
            )
            for r in rows
        }

    async def take_parked(self, tenant_id: str, integration_id: str, up_to: int) -> list[Record]:
        rows = await self.conn.fetch(
            "DELETE FROM reconciler.parked WHERE tenant_id = $1 AND integration_id = $2 AND generation <= $3 "
            "RETURNING seq, topic, partition, record_offset, message",
            tenant_id,
            integration_id,
            up_to,
        )
        return _records(rows)

    async def take_held(self, sync_run_id: uuid.UUID) -> list[Record]:
        rows = await self.conn.fetch(
            "DELETE FROM reconciler.parked WHERE sync_run_id = $1 "
            "RETURNING seq, topic, partition, record_offset, message",
            sync_run_id,
        )
        return _records(rows)

    async def running_runs(self, tenant_id: str, integration_id: str) -> list[RunState]:
        rows = await self.conn.fetch(
            "SELECT * FROM reconciler.sync_runs WHERE tenant_id = $1 AND integration_id = $2 "
            "AND status = 'running'",
            tenant_id,
            integration_id,
        )
        return [_run(r) for r in rows]

    async def open_conflicts(self, tenant_id: str, integration_id: str) -> list[ConflictRecord]:
        rows = await self.conn.fetch(
            "SELECT * FROM reconciler.conflicts WHERE tenant_id = $1 AND integration_id = $2 "
            "AND status = 'open'",
            tenant_id,
            integration_id,
        )
        return [c for r in rows if (c := conflict_record(r)) is not None]

    async def bound_devices(self, tenant_id: str, integration_id: str, limit: int) -> list[LedgerDevice]:
        rows = await self.conn.fetch(
            "SELECT doc FROM reconciler.devices WHERE tenant_id = $1 AND binding_integration_id = $2 "
            "UNION ALL SELECT d.doc FROM reconciler.device_bindings x JOIN reconciler.devices d "
            "ON d.device_id = x.device_id WHERE x.tenant_id = $1 AND x.integration_id = $2 "  # R-P4
            "LIMIT $3",
            tenant_id,
            integration_id,
            limit,
        )
        return [LedgerDevice.model_validate_json(r["doc"]) for r in rows]

    async def shared_devices(self, tenant_id: str, after: uuid.UUID | None, limit: int) -> list[LedgerDevice]:
        """R-P1: devices bound to several MDMs (they have rows in device_bindings), by device id."""
        rows = await self.conn.fetch(
            "SELECT d.doc FROM reconciler.devices d WHERE d.device_id IN (SELECT DISTINCT device_id "
            "FROM reconciler.device_bindings WHERE tenant_id = $1 AND ($2::uuid IS NULL OR device_id > $2)) "
            "ORDER BY d.device_id LIMIT $3",
            tenant_id,
            after,
            limit,
        )
        return [LedgerDevice.model_validate_json(r["doc"]) for r in rows]

    async def write(self, fx: Effects) -> None:
        await write_effects(self.conn, fx)

    async def load_state(self, needs: dict[str, Needs]) -> State:
        """Load what the core may read, step by step; a no-change re-sync needs only the first."""
        state = State()
        for tenant, n in needs.items():
            ledger = Ledger(tenant)
            state.digests[tenant] = n.digests
            fresh = await self._fresh(tenant, n)
            removed = {}
            if fresh:  # unchanged devices: neither loaded nor looked up by key
                state.unchanged[tenant] = fresh
                removed = {b: n.observed.pop(b) for b in fresh}
            bindings = list(n.observed)
            _add(
                ledger,
                await self.conn.fetch(
                    _LOAD_BOUND,
                    tenant,
                    list(n.device_ids),
                    [b[0] for b in bindings],
                    [b[1] for b in bindings],
                ),
            )
            for run_id, ids in n.seen_before.items():
                rows = await self.conn.fetch(_SEEN_BEFORE, run_id, list(ids))
                state.seen_before[run_id] = {r["m"] for r in rows}
            unbound = [b for b in bindings if ledger.bound_to(*b) is None]
            for run_id, integration in n.ends.items():
                end = await self._run_end(ledger, tenant, integration, run_id)
                state.ends[run_id] = end
                unbound += [(integration, new_id) for new_id, _ in end.reenroll]
            await self._load_unbound(ledger, tenant, n, unbound)
            await self._load_late(ledger, tenant, n, removed)
            for conflict in n.conflicts.values():
                ledger.put_conflict(conflict)
            ledger.priority = await self.priority(tenant)  # R-P1
            state.ledgers[tenant] = ledger
        return state

    async def _load_late(
        self, ledger: Ledger, tenant: str, n: Needs, removed: dict[tuple[str, str], Wanted]
    ) -> None:
        """A fresh binding whose device another record loaded after all (a key lookup, a run end)
        takes the full path in the fold (fast_path.unchanged): load what that path may read for it
        (R-J3: the owners of its proposed asset number), as if it had never been fresh."""
        while late := {b: w for b, w in removed.items() if ledger.bound_to(*b) is not None}:
            for b in late:
                del removed[b]
            n.observed.update(late)
            await self._load_unbound(ledger, tenant, n, [])

    async def _fresh(self, tenant: str, n: Needs) -> set[tuple[str, str]]:
        keys = [(b, d) for b, d in n.digests.items() if d is not None and b in n.observed]
        if not keys:
            return set()
        rows = await self.conn.fetch(
            _FRESH_DIGESTS,
            tenant,
            [b[0] for b, _ in keys],
            [b[1] for b, _ in keys],
            [d for _, d in keys],
        )
        return {(r["i"], r["m"]) for r in rows}

    async def _load_unbound(
        self, ledger: Ledger, tenant: str, n: Needs, unbound: list[tuple[str, str]]
    ) -> None:
        """Open conflicts, ignores, keys and R-J3 chains: only for devices not found by binding."""
        if unbound:
            keys = ([i for i, _ in unbound], [m for _, m in unbound])
            former = await self.conn.fetch(_LOAD_FORMER, tenant, *keys)
            _add(ledger, former)
            for r in former:
                ledger.former[(r["integration_id"], r["mdm_device_id"])] = r["device_id"]
            for r in await self.conn.fetch(_LOAD_UNBOUND_STATE, tenant, *keys):
                if r["ignored"]:
                    ledger.ignored.add((r["key_integration"], r["key_mdm"]))
                if r["conflict_id"] is not None and (c := conflict_record(r)) is not None:
                    ledger.put_conflict(c)
                    if c.key not in n.observed:  # a re-enrollment applies its snapshot: R-J3 needs
                        add_wanted(n, c.link, c.observed)  # the asset number's owners, like a sync
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
            _add(ledger, await self.conn.fetch(_LOAD_KEYS, tenant, list(serials), list(assets)))
        # The chain SYS<n>-2, -3, … matters only where SYS<n> itself is taken (rare).
        prefixes = [f"SYS{a}-" for a in chains if ledger.asset_number_owner("SYS" + a) is not None]
        if prefixes:
            _add(ledger, await self.conn.fetch(_LOAD_PREFIXED, tenant, prefixes))

    async def link_order(self, tenant_id: str) -> tuple[str, ...]:
        """R-P1 default: the tenant's integrations in the order they were first linked."""
        rows = await self.conn.fetch(
            "SELECT integration_id, created_at, master_link_id FROM reconciler.link_order "
            "WHERE tenant_id = $1",
            tenant_id,
        )
        return link_order({r["integration_id"]: (r["created_at"], r["master_link_id"]) for r in rows})

    async def priority(self, tenant_id: str) -> MdmPriority:
        """R-P1: the order a person set (if any), then the link order for the integrations it does
        not name."""
        raw = await self.conn.fetchval(
            "SELECT priority FROM reconciler.mdm_priority WHERE tenant_id = $1", tenant_id
        )
        stored = priority_of(json.loads(raw)) if raw is not None else MdmPriority()
        return stored.with_links(await self.link_order(tenant_id))

    async def _run_end(self, ledger: Ledger, tenant: str, integration: str, run_id: uuid.UUID) -> RunEnd:
        unseen = await self.conn.fetch(_UNSEEN, tenant, integration, run_id)
        _add(ledger, unseen)
        last: dict[str, datetime] = {}
        if unseen:
            mdm_ids = [
                b.mdm_device_id
                for r in unseen
                if (b := binding_of(ledger.devices[r["device_id"]], integration))
            ]
            last = {
                r["mdm_device_id"]: r["seen_at"]
                for r in await self.conn.fetch(_LAST_SEEN, tenant, integration, mdm_ids)
            }
        # Only a device the run did not report can be re-enrolled: the other pairs (a duplicate
        # MDM record next to its still reported original) need not be loaded at all.
        gone = {r["device_id"] for r in unseen}
        pairs = tuple(
            (r["mdm_device_id"], r["candidate"])
            for r in await self.conn.fetch(_REENROLL, run_id)
            if r["candidate"] in gone
        )
        return RunEnd(
            unseen=tuple(r["device_id"] for r in unseen),
            last_seen=last,
            reenroll=pairs,
            seen_records=await self.conn.fetchval(_RUN_SEEN, run_id),
        )


def _records(rows: list[asyncpg.Record]) -> list[Record]:
    """Parked or held records, in the order they were consumed."""
    return [
        Record(
            r["topic"], r["partition"], r["record_offset"], codec.decode(codec.snapshot_adapter, r["message"])
        )
        for r in sorted(rows, key=lambda r: r["seq"])
    ]


def _add(ledger: Ledger, rows: list[asyncpg.Record]) -> None:
    for r in rows:
        if r["device_id"] not in ledger.devices:
            ledger.put(LedgerDevice.model_validate_json(r["doc"]))


async def next_offsets(conn: Connection, group: str, topic: str) -> dict[int, int]:
    rows = await conn.fetch(
        "SELECT partition, next_offset FROM reconciler.consumer_offsets WHERE group_id = $1 AND topic = $2",
        group,
        topic,
    )
    return {r["partition"]: r["next_offset"] for r in rows}


async def store_offsets(conn: Connection, group: str, offsets: dict[tuple[str, int], int]) -> None:
    await conn.executemany(
        """INSERT INTO reconciler.consumer_offsets (group_id, topic, partition, next_offset)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset""",
        [(group, t, p, o) for (t, p), o in offsets.items()],
    )


async def pending_outbox(conn: Connection, limit: int = 20000) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT seq, topic, key, value, headers FROM reconciler.outbox ORDER BY seq LIMIT $1", limit
    )


async def delete_outbox(conn: Connection, up_to_seq: int) -> None:
    await conn.execute("DELETE FROM reconciler.outbox WHERE seq <= $1", up_to_seq)
