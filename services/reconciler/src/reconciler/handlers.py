"""The handler tables: what each consumed message needs loaded, and what it does. No I/O, no clock.

One `match` over `Message` (every snapshot and command type) per question, each closed with
`assert_never`: a message type added to `SnapshotMessage` or `CommandMessage` and not handled here
fails the type check (mypy). The handlers only route: each message goes to its `decide_*` in the
core, each outcome becomes state rows and events (changes.py). A dry run decides on a fork of the
ledger and publishes what it would do (planning.py).

- `references`: the runs and conflicts a batch names (loaded first).
- `needs`: per tenant, the devices, keys and run ends the batch may read (`Needs`).
- `fold`: the batch in offset order through `Fold.handle` -> `Effects`. The order of truth is
  the MDM's: connectors publish a run's devices in the MDM's own stable order (Graph's paging,
  Jamf's `id:asc` pages in page order), and competing devices (one serial on two records, one
  asset number wanted twice) are decided in that order. So the outcome depends only on the
  sequence of records on the partition, never on where a batch happens to start or end — which a
  restart, a rebalance or a slow poll changes (issue 9; `tests/test_fold_properties.py`).
"""

from __future__ import annotations

import uuid
from typing import assert_never

import structlog

from ledger_contracts import (
    ConflictRecorded,
    ConflictResolved,
    CreateDevice,
    DeleteDevice,
    DeviceObserved,
    Event,
    ImportDevices,
    MasterLinkChanged,
    MasterLinkSettings,
    ObservedDevice,
    ResolveConflict,
    SetMdmPriority,
    SyncRunCompleted,
    SyncRunCounts,
    SyncRunFailed,
    SyncRunStarted,
    UnlinkMasterLink,
    UpdateDevice,
    codec,
    topics,
)

from . import fast_path
from .changes import record_outcome
from .core import (
    Conflict,
    ConflictRecord,
    Created,
    Ignored,
    Ledger,
    Outcome,
    Rejected,
    RunEnd,
    Updated,
    apply,
    binding_of,
    decide_create,
    decide_delete,
    decide_observation,
    decide_resolution,
    decide_run_end,
    decide_update,
    match_key,
    normalise,
    partial_reason,
    proposed_asset_number,
    run_verdict,
    settle_conflict,
    track_conflict,
)
from .core.rules import mdm_key_value
from .csv_import import fold_import
from .model import ISSUES_KEPT, NS, Effects, Needs, Parked, Record, RunState, Seen, State, Wanted, event_id
from .planning import Planner

log = structlog.get_logger(__name__)
_COUNTED = {Created: "created", Updated: "updated", Conflict: "conflicts"}

# --- what a batch reads ----------------------------------------------------------------------------


def references(records: list[Record]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The sync runs and the conflicts the batch names: loaded before `needs` can be asked."""
    runs: set[uuid.UUID] = set()
    conflicts: set[uuid.UUID] = set()
    for rec in records:
        msg = rec.message
        match msg:
            case SyncRunStarted() | DeviceObserved() | SyncRunCompleted() | SyncRunFailed():
                runs.add(msg.sync_run_id)
            case ResolveConflict():
                conflicts.add(msg.conflict_id)
            case CreateDevice() | UpdateDevice() | DeleteDevice() | ImportDevices():
                pass
            case UnlinkMasterLink() | MasterLinkChanged() | SetMdmPriority():
                pass
            case _:
                assert_never(msg)
    return runs, conflicts


def add_wanted(n: Needs, link: MasterLinkSettings, o: ObservedDevice) -> None:
    key = match_key(mdm_key_value(link.matching_key.mdm, o))
    asset = proposed_asset_number(o, link.asset_number_source)
    n.observed[(link.integration_id, o.mdm_device_id)] = Wanted(
        link.matching_key.ledger, key, normalise(asset)
    )


def needs(
    records: list[Record],
    runs: dict[uuid.UUID, RunState],
    conflicts: dict[uuid.UUID, ConflictRecord] | None = None,
    released: frozenset[uuid.UUID] = frozenset(),
) -> dict[str, Needs]:
    """Per tenant, what the batch may read. `runs` must already hold the batch's runs, `conflicts`
    the conflicts its commands name (`references`); `released` the runs matched by device name whose
    held records this batch decides (R-M15: the others' devices are only held, nothing is read)."""
    out: dict[str, Needs] = {}
    conflicts = conflicts or {}
    digester = fast_path.Digester()  # issue 12: the no-change fast path
    started = {
        r.message.sync_run_id: r.message.master_link for r in records if isinstance(r.message, SyncRunStarted)
    }

    def link_of(run_id: uuid.UUID) -> MasterLinkSettings | None:
        run = runs.get(run_id)
        if run is None or run.status == "parked":
            # R-M12: a parked run is decided only in the batch that re-folds its start (released)
            link = started.get(run_id)
        else:
            link = None if run.status == "refused" else run.master_link
        if link is not None and holds_until_end(link) and run_id not in released:
            return None  # R-M15: held until the run ends
        return link

    for rec in records:
        msg = rec.message
        n = out.get(msg.tenant_id) or out.setdefault(msg.tenant_id, Needs())
        if type(msg) is DeviceObserved:  # nearly every record (exact type: cheaper than a match)
            if (link := link_of(msg.sync_run_id)) is not None:
                add_wanted(n, link, msg.device)
                n.seen_before.setdefault(msg.sync_run_id, set()).add(msg.device.mdm_device_id)
                fast_path.want(n, digester, link, msg)
            continue
        match msg:
            case DeviceObserved():
                if (link := link_of(msg.sync_run_id)) is not None:
                    add_wanted(n, link, msg.device)
                    n.seen_before.setdefault(msg.sync_run_id, set()).add(msg.device.mdm_device_id)
                    fast_path.want(n, digester, link, msg)
            case CreateDevice() | UpdateDevice():
                n.device_ids.add(msg.device_id)
                if (key := normalise(msg.fields.asset_number)) is not None:
                    n.asset_keys.add(key)
            case DeleteDevice():
                n.device_ids.add(msg.device_id)
            case SyncRunCompleted():
                if (link := link_of(msg.sync_run_id)) is not None:
                    n.ends[msg.sync_run_id] = link.integration_id
            case ResolveConflict():
                if msg.device_id is not None:
                    n.device_ids.add(msg.device_id)
                if (c := conflicts.get(msg.conflict_id)) is not None and c.tenant_id == msg.tenant_id:
                    n.conflicts[c.conflict_id] = c
                    n.device_ids.update(c.candidates)
                    add_wanted(n, c.link, c.observed)
            case ImportDevices():  # R-C2 (csv_import.py): the rows' devices, or the ids they would
                for row in msg.rows:  # create (a redelivered import), and every asset number
                    n.device_ids.add(row.device_id or msg.created_device_id(row.row))
                    if (key := normalise(row.fields.asset_number)) is not None:
                        n.asset_keys.add(key)
            case SyncRunStarted() | SyncRunFailed():
                pass  # the run itself is loaded by `references`
            case UnlinkMasterLink():
                pass  # never folded: pipeline.unlink loads the link's devices chunk by chunk
            case MasterLinkChanged():
                pass  # never folded: pipeline.link_changed (R-M12) applies it between two segments
            case SetMdmPriority():
                pass  # never folded: pipeline.priority_changed (R-P1) re-derives the shared devices
            case _:
                assert_never(msg)
    return out


# --- what a batch does -----------------------------------------------------------------------------


def fold(
    records: list[Record],
    state: State,
    runs: dict[uuid.UUID, RunState],
    prefix: str,
    released: frozenset[uuid.UUID] = frozenset(),
) -> Effects:
    """Apply every record in offset order; the effects hold the final state of all touched.
    `released`: runs matched by device name whose held records this fold decides (R-M15)."""
    return Fold(state, runs, prefix, released).run(records)


def holds_until_end(link: MasterLinkSettings) -> bool:
    """R-M15: a run matched by device name is decided as a whole when it ends: only then is it known
    whether a name is carried by one MDM device of the run or by several (never a guess)."""
    return link.matching_key.mdm == "device_name"


class Fold:
    def __init__(
        self,
        state: State,
        runs: dict[uuid.UUID, RunState],
        prefix: str,
        released: frozenset[uuid.UUID] = frozenset(),
    ) -> None:
        self.state, self.runs, self.released = state, runs, released
        self.fx = Effects()
        self.topic = topics.named(topics.CHANGES, prefix)
        self.planner = Planner(self.fx, self.topic)
        self.forks: dict[uuid.UUID, Ledger] = {}  # a dry run's own view of the ledger
        self.records: list[Record] = []
        self.names: dict[uuid.UUID, dict[str, set[str]]] = {}  # R-M15: per run, name -> MDM ids

    def run(self, records: list[Record]) -> Effects:
        self.records = records
        for rec in records:
            self.handle(rec)
        self.planner.flush_all()
        return self.fx

    def handle(self, rec: Record) -> None:
        """The handler table: one arm per message type."""
        msg = rec.message
        if type(msg) is DeviceObserved:  # first, and exact: nearly every record is one
            self._device_observed(rec, msg)
            return
        match msg:
            case DeviceObserved():
                self._device_observed(rec, msg)
            case SyncRunStarted():
                self._run_started(rec, msg)
            case SyncRunCompleted() | SyncRunFailed():
                self._run_finished(rec, msg)
            case CreateDevice():
                ledger = self.ledger(msg.tenant_id)
                self._record(decide_create(ledger, msg, msg.occurred_at), msg, ledger)
            case UpdateDevice():
                ledger = self.ledger(msg.tenant_id)
                self._record(decide_update(ledger, msg, msg.occurred_at), msg, ledger)
            case DeleteDevice():
                ledger = self.ledger(msg.tenant_id)
                self._record(decide_delete(ledger, msg), msg, ledger)
            case ResolveConflict():
                self._resolve(msg, self.ledger(msg.tenant_id))
            case ImportDevices():  # R-C2: all rows or none
                fold_import(msg, self.ledger(msg.tenant_id), self.fx, self.topic)
            case UnlinkMasterLink():
                # R-S4/R-S5 are chunked over the store (pipeline.unlink, unlink.py): `segments`
                # takes every unlink out of the records before they are folded.
                raise AssertionError(f"an unlink reached the fold: {msg.event_id}")
            case MasterLinkChanged():
                # R-M12: `segments` takes it out of the records too (pipeline.link_changed).
                raise AssertionError(f"a master-link change reached the fold: {msg.event_id}")
            case SetMdmPriority():
                # R-P1: `segments` takes it out as well (pipeline.priority_changed).
                raise AssertionError(f"a priority change reached the fold: {msg.event_id}")
            case _:
                assert_never(msg)

    def _record(self, outcome: Outcome, source: Event, ledger: Ledger) -> None:
        record_outcome(outcome, source, ledger, self.fx, self.topic)

    def ledger(self, tenant_id: str) -> Ledger:
        ledger = self.state.ledgers.get(tenant_id)
        if ledger is None:
            ledger = self.state.ledgers[tenant_id] = Ledger(tenant_id)
        return ledger

    def _view(self, run: RunState) -> Ledger:
        if not run.dry_run:
            return self.ledger(run.tenant_id)
        if run.sync_run_id not in self.forks:
            self.forks[run.sync_run_id] = self.ledger(run.tenant_id).fork()
        return self.forks[run.sync_run_id]

    # --- runs ----------------------------------------------------------------------------------

    def _run_started(self, rec: Record, msg: SyncRunStarted) -> None:
        known = self.runs.get(msg.sync_run_id)
        if known is not None and known.status == "running" and self._held(known):
            self._park(rec, known)  # R-M15: a restart is decided in order with the run's devices
            return
        if known is not None and known.status != "parked":
            self._attempt(known, msg)
            return
        run = RunState(
            sync_run_id=msg.sync_run_id,
            tenant_id=msg.tenant_id,
            master_link=msg.master_link,
            dry_run=msg.dry_run,
            status="running",
            counts=SyncRunCounts().model_dump(),
            started_at=msg.occurred_at,
            attempt_id=msg.attempt_id,
        )
        self.runs[msg.sync_run_id] = self.fx.runs[msg.sync_run_id] = run
        current = self.state.links.get((msg.tenant_id, msg.master_link.integration_id))
        verdict = run_verdict(current, msg.master_link.generation)
        if verdict == "park":  # R-M12: its MasterLinkChanged has not been applied yet
            run.status = "parked"
            self._park(rec, run)
            log.info("sync_run.parked", sync_run_id=str(run.sync_run_id), generation=run.generation)
            return
        if verdict == "refuse":  # R-M12: of a removed or superseded generation; it does nothing
            assert current is not None
            run.status, run.finished_at = "refused", msg.occurred_at
            run.error = f"refused: the run is of generation {run.generation}, {current.why()}"
            log.warning("sync_run.refused", sync_run_id=str(run.sync_run_id), reason=run.error)
        self.fx.publish(self.topic, run.summary(event_id(msg, "summary"), msg.occurred_at))

    def _attempt(self, run: RunState, msg: SyncRunStarted) -> None:
        """R-M13: the start of a run already known. The same attempt again (a retried message) is
        nothing new; a new attempt of a running run is a restarted pull: what the run saw is kept
        and each device is still counted once; a new attempt of a finished run is a request
        redelivered after completion: recorded and ignored as a whole, the run never reopens."""
        if msg.attempt_id is None and run.attempt_id is None and run.status == "running":
            # A producer without attempts (legacy) starting the run again: its end counts only what
            # it publishes from here (a retried start message comes before any device: no change).
            run.attempt_seen = 0
            self.fx.runs[run.sync_run_id] = run
            return
        if msg.attempt_id is None or msg.attempt_id == run.attempt_id:
            return
        if run.status == "running":
            run.attempt_id, run.attempts, run.attempt_seen = msg.attempt_id, run.attempts + 1, 0
            log.info("sync_run.attempt_restarted", sync_run_id=str(run.sync_run_id), attempts=run.attempts)
        elif str(msg.attempt_id) not in run.ignored_attempts:
            run.ignored_attempts.append(str(msg.attempt_id))
            log.warning(
                "sync_run.attempt_ignored",
                sync_run_id=str(run.sync_run_id),
                status=run.status,
                attempt_id=str(msg.attempt_id),
            )
        else:
            return
        self.fx.runs[run.sync_run_id] = run

    def _park(self, rec: Record, run: RunState) -> None:
        self.fx.runs[run.sync_run_id] = run
        self.fx.parked.append(Parked(run.tenant_id, run.integration_id, run.generation, run.sync_run_id, rec))

    def _held(self, run: RunState) -> bool:
        return holds_until_end(run.master_link) and run.sync_run_id not in self.released

    def _stale(self, run: RunState, attempt_id: uuid.UUID | None) -> bool:
        """A record of an attempt that no longer counts: the run was refused (R-M12), or the
        record belongs to an attempt ignored or superseded (R-M13). Dropped, never dead-lettered."""
        if run.status == "refused":
            return True
        if attempt_id is None or run.attempt_id is None:
            return False
        return str(attempt_id) in run.ignored_attempts or (
            run.status != "running" and attempt_id != run.attempt_id
        )

    def _shared_by(self, run: RunState, key: str | None) -> int:
        """R-M15: how many MDM devices of the run, in this batch, carry the device name `key`."""
        if key is None:
            return 1
        names = self.names.get(run.sync_run_id)
        if names is None:
            names = self.names[run.sync_run_id] = {}
            for rec in self.records:
                m = rec.message
                if type(m) is DeviceObserved and m.sync_run_id == run.sync_run_id:
                    if (k := match_key(m.device.device_name)) is not None:
                        names.setdefault(k, set()).add(m.device.mdm_device_id)
        return max(1, len(names.get(key, ())))

    def _dead_letter(self, rec: Record, error: str) -> None:
        log.warning("record.dead_lettered", topic=rec.topic, offset=rec.offset, error=error)
        key, value = codec.encode(rec.message)
        headers = codec.dead_letter_headers(error, rec.topic, rec.partition, rec.offset, "reconciler")
        self.fx.outbox.append((topics.dlq(rec.topic), key, value, headers))

    def _device_observed(self, rec: Record, msg: DeviceObserved) -> None:
        run = self.runs.get(msg.sync_run_id)
        if run is not None and run.status == "parked":
            self._park(rec, run)
            return
        if run is not None and self._stale(run, msg.attempt_id):
            return
        if run is None or run.status != "running":
            state = "unknown" if run is None else run.status
            self._dead_letter(rec, f"device observed for a sync run that is {state}: {msg.sync_run_id}")
            return
        if self._held(run):  # R-M15: decided when the run ends (pipeline.fold_part releases them)
            self._park(rec, run)
            return
        self.fx.runs[run.sync_run_id] = run
        run.attempt_seen += 1
        ledger = self._view(run) if run.dry_run else self.ledger(run.tenant_id)
        link, mdm_id = run.master_link, msg.device.mdm_device_id
        seen = self.fx.seen.get(run.sync_run_id)
        if seen is None:
            # "Last seen" is the run's start: known in every batch of the run, so the time a device
            # marked missing later says it was last reported never depends on batch boundaries.
            seen = self.fx.seen[run.sync_run_id] = Seen(run.sync_run_id, run.started_at or msg.occurred_at)
        before = self.state.seen_before.get(run.sync_run_id, set())
        first = mdm_id not in before  # R-M13: each MDM device of the run is counted once
        if first:
            before.add(mdm_id)
            self.state.seen_before[run.sync_run_id] = before
            seen.mdm_device_ids.append(mdm_id)
            run.counts["seen"] += 1
            if msg.warnings:  # R-M14: kept, with the fields the MDM sent malformed emptied
                run.counts["warnings"] += 1
                room = ISSUES_KEPT - len(run.issues)
                run.issues += msg.warnings[:room]
        key = (link.integration_id, mdm_id)
        if fast_path.unchanged(self.state, run.tenant_id, key, ledger):  # issue 12: nothing to decide
            if first:
                run.counts["unchanged"] += 1
            if run.dry_run:  # an unchanged device plans nothing
                self.planner.observed(run, msg, Ignored(msg.device))
            return
        new_id = uuid.uuid5(NS, f"device:{msg.event_id}")
        shared = 1
        if link.matching_key.mdm == "device_name":
            shared = self._shared_by(run, match_key(msg.device.device_name))
        outcome = decide_observation(
            ledger,
            link,
            run.sync_run_id,
            msg.device,
            msg.occurred_at,
            new_id,
            shared_by=shared,
            keep_empty=bool(msg.warnings),
        )
        if first:
            run.counts[_COUNTED.get(type(outcome), "unchanged")] += 1  # ignored counts as unchanged
        if isinstance(outcome, Conflict) and outcome.rule == "bound_to_other_mdm_device":
            seen.reenroll.append((mdm_id, outcome.candidates[0]))  # if the old id is absent at the end
        if run.dry_run:  # plan on the fork: later devices of the run see what earlier ones would do
            apply(ledger, outcome)
            self.planner.observed(run, msg, outcome)
            return
        if isinstance(outcome, Conflict):
            fast_path.forget(self.fx, run.tenant_id, key)
            self._conflict(outcome, run, msg, ledger)
            return
        if isinstance(outcome, Ignored):
            return
        record_outcome(outcome, msg, ledger, self.fx, self.topic)
        fast_path.remember(self.state, self.fx, run.tenant_id, key, ledger)
        if not ledger.conflicts:  # nearly always: no conflict to settle
            return
        if (
            closed := settle_conflict(ledger, link.integration_id, mdm_id, outcome, msg.occurred_at)
        ) is not None:
            self._close(closed, msg, ledger)

    def _conflict(self, conflict: Conflict, run: RunState, msg: DeviceObserved, ledger: Ledger) -> None:
        new_id = uuid.uuid5(NS, f"conflict:{msg.event_id}")
        record = track_conflict(ledger, conflict, run.master_link, run.sync_run_id, new_id, msg.occurred_at)
        if record is None:  # the same conflict as last time: nothing to tell anyone
            return
        ledger.put_conflict(record)
        self.fx.conflicts[record.conflict_id] = record
        self.fx.publish(
            self.topic,
            ConflictRecorded(
                event_id=event_id(msg, "conflict"),
                occurred_at=msg.occurred_at,
                tenant_id=msg.tenant_id,
                conflict_id=record.conflict_id,
                integration_id=record.integration_id,
                mdm_device_id=record.mdm_device_id,
                sync_run_id=record.sync_run_id,
                rule=record.rule,
                candidates=record.candidates,
                observed=record.observed,
                message=record.message,
            ),
        )

    def _close(self, closed: ConflictRecord, source: Event, ledger: Ledger) -> None:
        ledger.put_conflict(closed)
        self.fx.conflicts[closed.conflict_id] = closed
        self.fx.publish(
            self.topic,
            ConflictResolved(
                event_id=event_id(source, "resolved", closed.conflict_id),
                occurred_at=source.occurred_at,
                tenant_id=source.tenant_id,
                conflict_id=closed.conflict_id,
                resolution=closed.resolution,
                device_id=closed.resolved_device_id,
                command_id=closed.resolved_by,
            ),
        )

    def _run_finished(self, rec: Record, msg: SyncRunCompleted | SyncRunFailed) -> None:
        run = self.runs.get(msg.sync_run_id)
        if run is None:
            self._dead_letter(rec, f"sync run {msg.sync_run_id} finished but never started")
            return
        if run.status == "parked":
            self._park(rec, run)
            return
        if run.status != "running":  # already finished: a redelivered or repeated end message
            return
        if msg.attempt_id is not None and run.attempt_id is not None and msg.attempt_id != run.attempt_id:
            # R-M13: the end of an attempt that a newer one replaced: the newer one ends the run.
            log.warning("sync_run.stale_attempt_end", sync_run_id=str(run.sync_run_id))
            return
        run.finished_at = msg.occurred_at
        if isinstance(msg, SyncRunCompleted):
            run.status = "completed"
            run.reported_total = msg.reported_total
            run.counts["skipped"] = msg.devices_skipped
            # R-M14: skipped records first (they decide whether anyone may be marked missing).
            run.issues = [*msg.skipped, *run.issues][:ISSUES_KEPT]
            if msg.devices_observed != run.attempt_seen:
                # Devices are published before the end message on the same partition, so a gap
                # means some of THIS attempt's records were dead-lettered (R-M13: an earlier
                # attempt's devices are not this attempt's): count them as errors, never hide them.
                run.counts["errors"] += abs(msg.devices_observed - run.attempt_seen)
            self._run_end(run, msg)
        else:
            run.status = "failed"  # R-M10: a failed run marks nothing missing
            run.error = msg.error
        if run.dry_run:
            self.fx.drop_seen.add(run.sync_run_id)
        self.planner.flush(run.sync_run_id, msg)
        self.fx.runs[run.sync_run_id] = run
        self.fx.publish(self.topic, run.summary(event_id(msg, "summary"), msg.occurred_at))

    def _run_end(self, run: RunState, msg: SyncRunCompleted) -> None:
        ledger = self._view(run)
        loaded = self.state.ends.get(run.sync_run_id, RunEnd())
        batch = self.fx.seen.get(run.sync_run_id) or Seen(run.sync_run_id, msg.occurred_at)
        seen_now = set(batch.mdm_device_ids)
        end = RunEnd(
            unseen=tuple(
                d
                for d in loaded.unseen
                if (dev := ledger.devices.get(d)) is not None
                and (bound := binding_of(dev, run.integration_id)) is not None
                and bound.mdm_device_id not in seen_now
            ),
            last_seen=loaded.last_seen,
            reenroll=loaded.reenroll + tuple(batch.reenroll),
            seen_records=loaded.seen_records + len(batch.mdm_device_ids),
        )
        partial = partial_reason(
            seen=run.counts["seen"],
            seen_records=end.seen_records,
            skipped=msg.devices_skipped,
            errors=run.counts["errors"],
            reported_total=msg.reported_total,
        )
        decision = decide_run_end(
            ledger,
            run.master_link,
            run.sync_run_id,
            end,
            msg.occurred_at,
            partial=partial,
            dry_run=run.dry_run,
        )
        run.counts["missing"] = decision.unseen
        if decision.partial is not None:
            run.error = decision.partial + "; no device was marked missing (R-M10, R-M14)"
            log.warning("sync_run.partial", sync_run_id=str(run.sync_run_id), reason=decision.partial)
        if run.dry_run:
            self.planner.run_end(run, decision)
            return
        for moved, closed in decision.reenrolled:
            record_outcome(moved, msg, ledger, self.fx, self.topic)
            if closed is not None:
                self._close(closed, msg, ledger)
        for marked in decision.missing:
            record_outcome(marked, msg, ledger, self.fx, self.topic)
        if decision.partial is None:
            self.fx.prune_seen.append((run.tenant_id, run.integration_id, run.sync_run_id))

    # --- commands ------------------------------------------------------------------------------

    def _resolve(self, msg: ResolveConflict, ledger: Ledger) -> None:
        out = decide_resolution(ledger, msg, uuid.uuid5(NS, f"device:{msg.event_id}"), msg.occurred_at)
        if isinstance(out, Rejected):
            record_outcome(out, msg, ledger, self.fx, self.topic)
            return
        if out.change is not None:
            record_outcome(out.change, msg, ledger, self.fx, self.topic)
        closed = out.conflict
        if closed.resolution == "ignore":
            ledger.ignored.add(closed.key)
            self.fx.ignored[(msg.tenant_id, *closed.key)] = closed.conflict_id
        self._close(closed, msg, ledger)
