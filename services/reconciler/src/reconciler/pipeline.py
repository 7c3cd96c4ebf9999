"""One batch from records to stored effects, over any store: PostgreSQL in the service, memory in
the scenario corpus and the property tests. Load -> fold (pure) -> write; nothing else.

An `UnlinkMasterLink` splits the batch: what comes before it is folded and written, the unlink
runs chunk by chunk, then the rest is loaded afresh and folded. All of it in the caller's one
transaction, so the batch still commits (with its offsets) or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ledger_contracts import LedgerDevice, UnlinkMasterLink

from .core import ConflictRecord
from .handlers import fold, needs, references
from .model import Effects, Needs, Record, RunState, State
from .unlink import CHUNK, unlink_devices, unlink_started


class Store(Protocol):
    async def load_runs(self, run_ids: set[uuid.UUID]) -> dict[uuid.UUID, RunState]: ...
    async def load_conflicts(self, conflict_ids: set[uuid.UUID]) -> dict[uuid.UUID, ConflictRecord]: ...
    async def load_state(self, needs: dict[str, Needs]) -> State: ...
    async def running_runs(self, tenant_id: str, integration_id: str) -> list[RunState]: ...
    async def open_conflicts(self, tenant_id: str, integration_id: str) -> list[ConflictRecord]: ...
    async def bound_devices(self, tenant_id: str, integration_id: str, limit: int) -> list[LedgerDevice]: ...
    async def write(self, fx: Effects) -> None: ...


def segments(records: list[Record]) -> Iterator[list[Record] | UnlinkMasterLink]:
    part: list[Record] = []
    for rec in records:
        if type(rec.message) is UnlinkMasterLink:
            if part:
                yield part
            part = []
            yield rec.message
        else:
            part.append(rec)
    if part:
        yield part


@dataclass
class Written:
    events: int = 0  # put in the outbox
    devices: int = 0  # device rows upserted or deleted

    def add(self, fx: Effects) -> None:
        self.events += len(fx.outbox)
        self.devices += len(fx.upserts) + len(fx.deletes)


async def process(store: Store, records: list[Record], prefix: str) -> Written:
    """Fold and store `records`."""
    written = Written()
    for part in segments(records):
        if isinstance(part, UnlinkMasterLink):
            await unlink(store, part, prefix, written)
            continue
        run_ids, conflict_ids = references(part)
        runs = await store.load_runs(run_ids)
        conflicts = await store.load_conflicts(conflict_ids)
        state = await store.load_state(needs(part, runs, conflicts))
        fx = fold(part, state, runs, prefix)
        await store.write(fx)
        written.add(fx)
    return written


async def unlink(store: Store, command: UnlinkMasterLink, prefix: str, written: Written) -> None:
    tenant, integration = command.tenant_id, command.integration_id
    fx = unlink_started(
        command,
        await store.running_runs(tenant, integration),
        await store.open_conflicts(tenant, integration),
        prefix,
    )
    await store.write(fx)
    written.add(fx)
    done: set[uuid.UUID] = set()
    # Each chunk unbinds (or deletes) what it loaded, so the next query returns the next devices.
    while devices := await store.bound_devices(tenant, integration, CHUNK):
        ids = {d.device_id for d in devices}
        if ids & done:  # a store that did not apply the last chunk: never loop for ever
            raise RuntimeError(f"unlink of {integration} made no progress")
        done |= ids
        fx = unlink_devices(command, devices, prefix)
        await store.write(fx)
        written.add(fx)
