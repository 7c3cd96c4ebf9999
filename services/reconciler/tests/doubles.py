"""An in-memory store with the repository's semantics, for the scenario corpus and property tests.

It loads more than PostgreSQL does (the whole tenant), which is a test in itself: a fold must
decide the same whatever extra rows it is given.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

from ledger_contracts import LedgerDevice, codec
from reconciler.core import (
    ConflictRecord,
    Ledger,
    LinkGeneration,
    MdmPriority,
    RunEnd,
    binding_of,
    link_order,
)
from reconciler.model import Effects, Needs, Parked, Record, RunState, Seen, State
from reconciler.pipeline import process


class MemoryStore:
    def __init__(self) -> None:
        self.devices: dict[uuid.UUID, LedgerDevice] = {}
        self.runs: dict[uuid.UUID, RunState] = {}
        self.conflicts: dict[uuid.UUID, ConflictRecord] = {}
        self.ignored: dict[tuple[str, str, str], uuid.UUID] = {}
        self.seen: list[Seen] = []
        self.outbox: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = []
        self.links: dict[tuple[str, str], LinkGeneration] = {}
        self.parked: list[Parked] = []
        self.former: dict[tuple[str, str, str], uuid.UUID] = {}
        self.priority_set: dict[str, MdmPriority] = {}  # R-P1, per tenant: as a person set it
        self.linked: dict[tuple[str, str], tuple[datetime, str]] = {}  # R-P1 default: first links

    # --- the Store protocol --------------------------------------------------------------------

    async def load_runs(self, run_ids: set[uuid.UUID]) -> dict[uuid.UUID, RunState]:
        return {i: copy.deepcopy(self.runs[i]) for i in run_ids if i in self.runs}

    async def load_conflicts(self, conflict_ids: set[uuid.UUID]) -> dict[uuid.UUID, ConflictRecord]:
        return {i: self.conflicts[i] for i in conflict_ids if i in self.conflicts}

    async def load_state(self, needs: dict[str, Needs]) -> State:
        state = State()
        for tenant, n in needs.items():
            ledger = Ledger.of(tenant, (d for d in self.devices.values() if d.tenant_id == tenant))
            for c in self.conflicts.values():
                if c.tenant_id == tenant and c.status == "open":
                    ledger.put_conflict(c)
            for c in n.conflicts.values():
                ledger.put_conflict(self.conflicts.get(c.conflict_id, c))
            ledger.ignored = {(i, m) for (t, i, m) in self.ignored if t == tenant}
            ledger.former = {(i, m): d for (t, i, m), d in self.former.items() if t == tenant}
            ledger.priority = await self.priority(tenant)
            state.ledgers[tenant] = ledger
            for run_id, ids in n.seen_before.items():
                state.seen_before[run_id] = {
                    m for s in self.seen if s.sync_run_id == run_id for m in s.mdm_device_ids if m in ids
                }
            for run_id, integration in n.ends.items():
                state.ends[run_id] = self._run_end(ledger, run_id, integration)
        return state

    async def load_links(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], LinkGeneration]:
        return {k: self.links[k] for k in keys if k in self.links}

    async def take_parked(self, tenant_id: str, integration_id: str, up_to: int) -> list[Record]:
        mine = [
            p
            for p in self.parked
            if (p.tenant_id, p.integration_id) == (tenant_id, integration_id) and p.generation <= up_to
        ]
        self.parked = [p for p in self.parked if p not in mine]
        return [copy.deepcopy(p.record) for p in mine]

    async def take_held(self, sync_run_id: uuid.UUID) -> list[Record]:
        mine = [p for p in self.parked if p.sync_run_id == sync_run_id]
        self.parked = [p for p in self.parked if p.sync_run_id != sync_run_id]
        return [copy.deepcopy(p.record) for p in mine]

    async def running_runs(self, tenant_id: str, integration_id: str) -> list[RunState]:
        return [
            copy.deepcopy(r)
            for r in self.runs.values()
            if (r.tenant_id, r.integration_id, r.status) == (tenant_id, integration_id, "running")
        ]

    async def open_conflicts(self, tenant_id: str, integration_id: str) -> list[ConflictRecord]:
        return [
            c
            for c in self.conflicts.values()
            if (c.tenant_id, c.integration_id, c.status) == (tenant_id, integration_id, "open")
        ]

    async def bound_devices(self, tenant_id: str, integration_id: str, limit: int) -> list[LedgerDevice]:
        bound = [
            d
            for d in self.devices.values()
            if d.tenant_id == tenant_id and binding_of(d, integration_id) is not None
        ]
        return sorted(bound, key=lambda d: str(d.device_id))[:limit]

    async def shared_devices(self, tenant_id: str, after: uuid.UUID | None, limit: int) -> list[LedgerDevice]:
        shared = [
            d
            for d in self.devices.values()
            if d.tenant_id == tenant_id and d.other_bindings and (after is None or d.device_id > after)
        ]
        return sorted(shared, key=lambda d: d.device_id)[:limit]

    async def link_order(self, tenant_id: str) -> tuple[str, ...]:
        return link_order({i: first for (t, i), first in self.linked.items() if t == tenant_id})

    async def priority(self, tenant_id: str) -> MdmPriority:
        stored = self.priority_set.get(tenant_id, MdmPriority())
        return stored.with_links(await self.link_order(tenant_id))

    async def write(self, fx: Effects) -> None:
        self.priority_set.update(fx.priority)
        for key, first in fx.link_order.items():  # the earliest creation of a link stays
            self.linked[key] = min(self.linked.get(key, first), first)
        for device_id in fx.deletes:
            self.devices.pop(device_id, None)
        self.devices.update(fx.upserts)
        self.runs.update({i: copy.deepcopy(r) for i, r in fx.runs.items()})
        self.conflicts.update(fx.conflicts)
        self.ignored.update(fx.ignored)
        for tenant, integration in fx.forget_ignored:
            self.ignored = {k: v for k, v in self.ignored.items() if k[:2] != (tenant, integration)}
        self.seen += fx.seen.values()
        for tenant, integration, keep in fx.prune_seen:
            old = {
                r.sync_run_id
                for r in self.runs.values()
                if (r.tenant_id, r.integration_id) == (tenant, integration)
                and r.sync_run_id != keep
                and r.status != "running"
            }
            self.seen = [s for s in self.seen if s.sync_run_id not in old]
        self.seen = [s for s in self.seen if s.sync_run_id not in fx.drop_seen]
        self.outbox += fx.outbox
        self.links.update(fx.links)
        self.parked += fx.parked
        self.former.update(fx.former)

    # --- helpers for tests ---------------------------------------------------------------------

    def _run_end(self, ledger: Ledger, run_id: uuid.UUID, integration: str) -> RunEnd:
        mine = [s for s in self.seen if s.sync_run_id == run_id]
        reported = {m for s in mine for m in s.mdm_device_ids}
        unseen = [
            d
            for d in ledger.devices.values()
            if (b := binding_of(d, integration)) is not None and b.mdm_device_id not in reported
        ]
        kept = {
            r.sync_run_id
            for r in self.runs.values()
            if (r.tenant_id, r.integration_id) == (ledger.tenant_id, integration) and not r.dry_run
        }
        last: dict[str, datetime] = {}
        wanted = {b.mdm_device_id for d in unseen if (b := binding_of(d, integration)) is not None}
        for s in self.seen:
            for m in set(s.mdm_device_ids) & wanted if s.sync_run_id in kept else ():
                last[m] = max(last.get(m, s.seen_at), s.seen_at)
        return RunEnd(
            unseen=tuple(sorted((d.device_id for d in unseen), key=str)),
            last_seen=last,
            reenroll=tuple(p for s in mine for p in s.reenroll),
            seen_records=sum(len(s.mdm_device_ids) for s in mine),
        )

    async def handle(self, records: list[Record], prefix: str = "") -> None:
        await process(self, records, prefix)

    def topics(self) -> set[str]:
        return {topic for topic, _, _, _ in self.outbox}

    def events(self) -> list[Any]:
        """Everything published on the changes topic so far, decoded."""
        return [
            codec.decode(codec.change_adapter, value)
            for topic, _, value, _ in self.outbox
            if "dlq" not in topic
        ]
