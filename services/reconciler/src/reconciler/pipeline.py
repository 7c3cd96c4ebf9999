"""One batch from records to stored effects, over any store: PostgreSQL in the service, memory in
the scenario corpus and the property tests. Load -> fold (pure) -> write; nothing else.

An `UnlinkMasterLink` or a `MasterLinkChanged` splits the batch: what comes before it is folded
and written, the command is applied (an unlink chunk by chunk), the runs it was waiting for are
released (R-M12: parked records re-folded in their original order), then the rest is loaded
afresh and folded. All of it in the caller's one transaction, so the batch still commits (with its
offsets) or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from ledger_contracts import (
    CommandRejected,
    LedgerDevice,
    MasterLinkChanged,
    PlannedChange,
    SetMdmPriority,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    UnlinkMasterLink,
    topics,
)

from .core import ConflictRecord, LinkGeneration, MdmPriority, command_verdict
from .handlers import fold, holds_until_end, needs, references
from .model import Effects, Needs, Record, RunState, State, event_id
from .priority_change import priority_of_command, publish_plan, reprioritise
from .unlink import CHUNK, supersede_runs, unlink_devices, unlink_started

log = structlog.get_logger(__name__)
LinkKey = tuple[str, str]  # (tenant, integration)


class Store(Protocol):
    async def load_runs(self, run_ids: set[uuid.UUID]) -> dict[uuid.UUID, RunState]: ...
    async def load_conflicts(self, conflict_ids: set[uuid.UUID]) -> dict[uuid.UUID, ConflictRecord]: ...
    async def load_state(self, needs: dict[str, Needs]) -> State: ...
    async def running_runs(self, tenant_id: str, integration_id: str) -> list[RunState]: ...
    async def open_conflicts(self, tenant_id: str, integration_id: str) -> list[ConflictRecord]: ...
    async def bound_devices(self, tenant_id: str, integration_id: str, limit: int) -> list[LedgerDevice]: ...
    # R-P1: the tenant's devices bound to several MDMs, in device id order after `after`.
    async def shared_devices(
        self, tenant_id: str, after: uuid.UUID | None, limit: int
    ) -> list[LedgerDevice]: ...
    async def write(self, fx: Effects) -> None: ...
    # R-P1: the tenant's integrations in the order they were first linked (`core.link_order`), and
    # its effective priority: the order a person set (if any) followed by that link order.
    async def link_order(self, tenant_id: str) -> tuple[str, ...]: ...
    async def priority(self, tenant_id: str) -> MdmPriority: ...
    # R-M12: the current generation of each (tenant, integration), and the records parked for one.
    async def load_links(self, keys: set[LinkKey]) -> dict[LinkKey, LinkGeneration]: ...
    async def take_parked(self, tenant_id: str, integration_id: str, up_to: int) -> list[Record]: ...
    # R-M15: the records held for one run (matched by device name) until it ends.
    async def take_held(self, sync_run_id: uuid.UUID) -> list[Record]: ...


Command = UnlinkMasterLink | MasterLinkChanged | SetMdmPriority


def segments(records: list[Record]) -> Iterator[list[Record] | Command]:
    part: list[Record] = []
    for rec in records:
        if isinstance(msg := rec.message, UnlinkMasterLink | MasterLinkChanged | SetMdmPriority):
            if part:
                yield part
            part = []
            yield msg
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
        elif isinstance(part, MasterLinkChanged):
            await link_changed(store, part, prefix, written)
        elif isinstance(part, SetMdmPriority):
            await priority_changed(store, part, prefix, written)
        else:
            await fold_part(store, part, prefix, written)
    return written


async def fold_part(
    store: Store,
    part: list[Record],
    prefix: str,
    written: Written,
    released: frozenset[uuid.UUID] = frozenset(),
) -> None:
    run_ids, conflict_ids = references(part)
    runs = await store.load_runs(run_ids)
    if (end := _end_of_held_run(part, runs, released)) is not None:
        # R-M15: the run's devices were held; its end decides them all in one fold, in order.
        before, rec, rest = part[:end], part[end], part[end + 1 :]
        if before:
            await fold_part(store, before, prefix, written, released)
        run_id = rec.message.sync_run_id  # type: ignore[union-attr]  # an end record (checked)
        held = await store.take_held(run_id)
        await fold_part(store, [*held, rec], prefix, written, released | {run_id})
        if rest:
            await fold_part(store, rest, prefix, written, released)
        return
    if (end := _end_after_others(part, runs)) is not None:
        await fold_part(store, part[:end], prefix, written, released)
        await fold_part(store, part[end:], prefix, written, released)
        return
    conflicts = await store.load_conflicts(conflict_ids)
    state = await store.load_state(needs(part, runs, conflicts, released))
    starts = {
        (r.message.tenant_id, r.message.master_link.integration_id)
        for r in part
        if type(r.message) is SyncRunStarted and r.message.master_link.generation > 0
    }
    state.links = await store.load_links(starts) if starts else {}
    fx = fold(part, state, runs, prefix, released)
    await store.write(fx)
    written.add(fx)


def _end_after_others(part: list[Record], runs: dict[uuid.UUID, RunState]) -> int | None:
    """The index of the first end of a run (not a dry run) that has records before it in `part`.

    A run end decides what is missing over the devices bound when it is loaded, so everything
    before it in the batch — devices an earlier run of the same integration created, a resolution
    that bound one — is written first. Otherwise a device created and left unreported within one
    batch would escape R-M10, and where a batch happens to end would change the outcome (issue 9).
    A dry run writes nothing, so cutting before its end would only split its plan in two."""
    dry = {run_id for run_id, run in runs.items() if run.dry_run}
    for i, rec in enumerate(part):
        msg = rec.message
        if type(msg) is SyncRunStarted and msg.dry_run:
            dry.add(msg.sync_run_id)
        elif i and type(msg) is SyncRunCompleted and msg.sync_run_id not in dry:
            return i
    return None


def _end_of_held_run(
    part: list[Record], runs: dict[uuid.UUID, RunState], released: frozenset[uuid.UUID]
) -> int | None:
    """The index of the first end of a running run matched by device name (R-M15) not yet released."""
    started = {r.message.sync_run_id for r in part if type(r.message) is SyncRunStarted}
    links = {r.message.sync_run_id: r.message.master_link for r in part if type(r.message) is SyncRunStarted}
    for i, rec in enumerate(part):
        msg = rec.message
        if type(msg) is not SyncRunCompleted and type(msg) is not SyncRunFailed:
            continue
        if msg.sync_run_id in released:
            continue
        run = runs.get(msg.sync_run_id)
        if run is not None and run.status == "running" and holds_until_end(run.master_link):
            return i
        if run is None and msg.sync_run_id in started and holds_until_end(links[msg.sync_run_id]):
            return i
    return None


async def link_changed(store: Store, command: MasterLinkChanged, prefix: str, written: Written) -> None:
    """R-M12: a link created or its settings changed: the new generation becomes current, runs of
    older generations still streaming are refused, and runs parked for it are applied now."""
    link = command.master_link
    key = (command.tenant_id, link.integration_id)
    if command.change == "created":  # R-P1: the default priority is the order of first linking
        order = Effects()
        order.link_order[key] = (command.occurred_at, link.master_link_id)
        await store.write(order)
        written.add(order)
    if link.generation == 0:  # a producer that predates R-M12 (or an announcement): nothing to order
        return
    current = (await store.load_links({key})).get(key)
    verdict = command_verdict(current, link.generation, command.change)
    if verdict != "apply":  # a redelivery, or older than what was applied: nothing changes
        log.info("master_link.change_ignored", generation=link.generation, verdict=verdict)
        return
    new = LinkGeneration(
        command.tenant_id,
        link.integration_id,
        link.master_link_id,
        link.generation,
        command.change,
        command.occurred_at,
    )
    fx = supersede_runs(command, await store.running_runs(*key), new, prefix)
    fx.links[key] = new
    await store.write(fx)
    written.add(fx)
    await release(store, new, prefix, written)


async def release(store: Store, current: LinkGeneration, prefix: str, written: Written) -> None:
    """R-M12: the records parked for generations up to the current one, folded in their original
    order: those of the current generation run, older ones are refused by the fold."""
    parked = await store.take_parked(current.tenant_id, current.integration_id, current.generation)
    if parked:
        log.info("sync_run.released", records=len(parked), generation=current.generation)
        await fold_part(store, parked, prefix, written)


async def priority_changed(store: Store, command: SetMdmPriority, prefix: str, written: Written) -> None:
    """R-P1: plan or apply a new MDM priority over the tenant's shared devices, chunk by chunk (each
    chunk written before the next is loaded; the stored priority goes with the first)."""
    planned: list[PlannedChange] = []
    after: uuid.UUID | None = None
    first = True
    linked = await store.link_order(command.tenant_id)  # after the order the command names
    while True:
        devices = await store.shared_devices(command.tenant_id, after, CHUNK)
        fx, items = reprioritise(command, devices, prefix, linked)
        planned += items
        if first and not command.dry_run:
            fx.priority[command.tenant_id] = priority_of_command(command)
        first = False
        if not command.dry_run:
            await store.write(fx)
            written.add(fx)
        if len(devices) < CHUNK:
            break
        after = max(d.device_id for d in devices)
    if command.dry_run:
        fx = publish_plan(command, planned, prefix)
        await store.write(fx)
        written.add(fx)


async def unlink(store: Store, command: UnlinkMasterLink, prefix: str, written: Written) -> None:
    tenant, integration = command.tenant_id, command.integration_id
    key = (tenant, integration)
    new: LinkGeneration | None = None
    if command.generation > 0:  # R-M12 (generation 0: a legacy producer, applied as it comes)
        current = (await store.load_links({key})).get(key)
        verdict = command_verdict(current, command.generation, "unlinked")
        if verdict == "duplicate":
            return
        if verdict == "refuse":  # an unlink older than the link it would hit (say, a re-link)
            assert current is not None
            fx = Effects()
            reason = f"unlink of generation {command.generation} refused: {current.why()}"
            log.warning("unlink.refused", command_id=str(command.event_id), reason=reason)
            fx.publish(
                topics.named(topics.CHANGES, prefix),
                CommandRejected(
                    event_id=event_id(command, "rejected"),
                    occurred_at=command.occurred_at,
                    tenant_id=tenant,
                    command_id=command.event_id,
                    code="superseded",
                    message=reason,
                ),
            )
            await store.write(fx)
            written.add(fx)
            return
        new = LinkGeneration(
            tenant, integration, command.master_link_id, command.generation, "unlinked", command.occurred_at
        )
    else:  # a legacy unlink of a link that has generations: it is removed all the same
        current = (await store.load_links({key})).get(key)
        if current is not None and not current.removed:
            fx = Effects()
            fx.links[key] = LinkGeneration(
                tenant,
                integration,
                command.master_link_id,
                current.generation,
                "unlinked",
                command.occurred_at,
            )
            await store.write(fx)
    running = await store.running_runs(tenant, integration)
    for run in running:  # R-M15: what a run matched by device name held is dropped with the run
        await store.take_held(run.sync_run_id)
    fx = unlink_started(
        command,
        running,
        await store.open_conflicts(tenant, integration),
        prefix,
        new,
    )
    if new is not None:
        fx.links[key] = new
    await store.write(fx)
    written.add(fx)
    done: set[uuid.UUID] = set()
    priority = await store.priority(tenant)  # R-P1: whom a shared device's source moves to
    # Each chunk unbinds (or deletes) what it loaded, so the next query returns the next devices.
    while devices := await store.bound_devices(tenant, integration, CHUNK):
        ids = {d.device_id for d in devices}
        if ids & done:  # a store that did not apply the last chunk: never loop for ever
            raise RuntimeError(f"unlink of {integration} made no progress")
        done |= ids
        fx = unlink_devices(command, devices, prefix, priority)
        await store.write(fx)
        written.add(fx)
    if new is not None:  # runs parked for a generation the unlink superseded: refused now
        await release(store, new, prefix, written)
