"""One consumed batch, folded through the core: decoded messages + loaded state -> effects.

No I/O here: `needs()` says what state to load, `fold()` decides, the repository persists `Effects`.
Every id and timestamp is derived from the input (event ids, `occurred_at`), so processing the same
batch against the same state again produces byte-identical events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ledger_contracts import (
    CommandRejected,
    CreateDevice,
    DeleteDevice,
    DeviceObserved,
    Event,
    LedgerDevice,
    LedgerDeviceChanged,
    MasterLinkSettings,
    SyncRunCompleted,
    SyncRunCounts,
    SyncRunFailed,
    SyncRunStarted,
    SyncRunSummary,
    UpdateDevice,
    codec,
    topics,
)

from .core import (
    Conflict,
    Created,
    Deleted,
    Ledger,
    Outcome,
    Rejected,
    Unchanged,
    Updated,
    apply,
    decide_create,
    decide_delete,
    decide_observation,
    decide_update,
    match_key,
    normalise,
    proposed_asset_number,
)

log = structlog.get_logger(__name__)
_NS = uuid.UUID("6d1f3a52-1c44-4c1b-9a0e-0a8f3e7d2b10")


@dataclass
class Record:
    """A consumed record: where it came from and what it decoded to."""

    topic: str
    partition: int
    offset: int
    message: Event


@dataclass
class RunState:
    sync_run_id: uuid.UUID
    tenant_id: str
    master_link: MasterLinkSettings
    dry_run: bool
    status: str
    counts: dict[str, int]
    started_at: datetime | None
    reported_total: int | None = None
    finished_at: datetime | None = None
    error: str | None = None

    def summary(self, event_id: uuid.UUID, at: datetime) -> SyncRunSummary:
        return SyncRunSummary(
            event_id=event_id,
            occurred_at=at,
            tenant_id=self.tenant_id,
            sync_run_id=self.sync_run_id,
            master_link_id=self.master_link.master_link_id,
            integration_id=self.master_link.integration_id,
            status=self.status,  # type: ignore[arg-type]
            dry_run=self.dry_run,
            counts=SyncRunCounts(**self.counts),
            reported_total=self.reported_total,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=self.error,
        )


@dataclass(frozen=True)
class Wanted:
    """What one observed device may need beyond its binding: its matching key and asset number."""

    ledger_key: str  # "serial_number" | "asset_number"
    match_key: str | None
    asset_key: str | None


@dataclass
class Needs:
    """What a batch can touch, per tenant. Bound devices need only their binding; the keys of the
    others (and the R-J3 `SYS` chain of their asset number) are loaded in a second step."""

    device_ids: set[uuid.UUID] = field(default_factory=set)
    asset_keys: set[str] = field(default_factory=set)  # asked for by commands
    observed: dict[tuple[str, str], Wanted] = field(default_factory=dict)


@dataclass
class ConflictRow:
    conflict: Conflict
    tenant_id: str
    sync_run_id: uuid.UUID
    at: datetime


@dataclass
class Effects:
    upserts: dict[uuid.UUID, LedgerDevice] = field(default_factory=dict)
    deletes: set[uuid.UUID] = field(default_factory=set)
    runs: dict[uuid.UUID, RunState] = field(default_factory=dict)
    conflicts: list[ConflictRow] = field(default_factory=list)
    outbox: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)

    def publish(self, topic: str, event: Event) -> None:
        key, value = codec.encode(event)
        self.outbox.append((topic, key, value, []))


def needs(records: list[Record], runs: dict[uuid.UUID, RunState]) -> dict[str, Needs]:
    """Per tenant, the ledger rows the batch may read. `runs` must already hold the batch's runs."""
    out: dict[str, Needs] = {}
    started = {
        r.message.sync_run_id: r.message.master_link for r in records if isinstance(r.message, SyncRunStarted)
    }
    for rec in records:
        msg = rec.message
        n = out.setdefault(msg.tenant_id, Needs())
        if isinstance(msg, CreateDevice | UpdateDevice | DeleteDevice):
            n.device_ids.add(msg.device_id)
            fields = getattr(msg, "fields", None)
            if fields is not None and (key := normalise(fields.asset_number)):
                n.asset_keys.add(key)
        elif isinstance(msg, DeviceObserved):
            run = runs.get(msg.sync_run_id)
            link = run.master_link if run else started.get(msg.sync_run_id)
            if link is None:
                continue
            o = msg.device
            key = match_key(o.serial_number if link.matching_key.mdm == "serial_number" else o.uuid)
            asset = proposed_asset_number(o, link.asset_number_source)
            n.observed[(link.integration_id, o.mdm_device_id)] = Wanted(
                link.matching_key.ledger, key, normalise(asset)
            )
    return out


def _event_id(source: Event, *parts: object) -> uuid.UUID:
    return uuid.uuid5(_NS, ":".join([str(source.event_id), *map(str, parts)]))


def fold(
    records: list[Record],
    ledgers: dict[str, Ledger],
    runs: dict[uuid.UUID, RunState],
    prefix: str,
    effects: Effects | None = None,
) -> Effects:
    """Apply every record in order; the effects hold the final state of everything touched."""
    fx = effects or Effects()
    changes_topic = topics.named(topics.CHANGES, prefix)
    for rec in records:
        msg = rec.message
        ledger = ledgers.setdefault(msg.tenant_id, Ledger(msg.tenant_id))
        if isinstance(msg, SyncRunStarted):
            _run_started(msg, runs, fx, changes_topic)
        elif isinstance(msg, DeviceObserved):
            _device_observed(rec, msg, ledger, runs, fx, changes_topic, prefix)
        elif isinstance(msg, SyncRunCompleted | SyncRunFailed):
            _run_finished(rec, msg, runs, fx, changes_topic, prefix)
        elif isinstance(msg, CreateDevice):
            _record(decide_create(ledger, msg, msg.occurred_at), msg, ledger, fx, changes_topic)
        elif isinstance(msg, UpdateDevice):
            _record(decide_update(ledger, msg, msg.occurred_at), msg, ledger, fx, changes_topic)
        elif isinstance(msg, DeleteDevice):
            _record(decide_delete(ledger, msg), msg, ledger, fx, changes_topic)
    return fx


def _run_started(msg: SyncRunStarted, runs: dict, fx: Effects, topic: str) -> None:
    if msg.sync_run_id in runs:  # a connector retrying its start message: nothing new
        return
    run = RunState(
        sync_run_id=msg.sync_run_id,
        tenant_id=msg.tenant_id,
        master_link=msg.master_link,
        dry_run=msg.dry_run,
        status="running",
        counts=SyncRunCounts().model_dump(),
        started_at=msg.occurred_at,
    )
    runs[msg.sync_run_id] = fx.runs[msg.sync_run_id] = run
    fx.publish(topic, run.summary(_event_id(msg, "summary"), msg.occurred_at))


def _dead_letter(rec: Record, fx: Effects, error: str) -> None:
    log.warning("record.dead_lettered", topic=rec.topic, offset=rec.offset, error=error)
    key, value = codec.encode(rec.message)
    headers = codec.dead_letter_headers(error, rec.topic, rec.partition, rec.offset, "reconciler")
    fx.outbox.append((topics.dlq(rec.topic), key, value, headers))


def _device_observed(
    rec: Record,
    msg: DeviceObserved,
    ledger: Ledger,
    runs: dict[uuid.UUID, RunState],
    fx: Effects,
    topic: str,
    prefix: str,
) -> None:
    run = runs.get(msg.sync_run_id)
    if run is None or run.status != "running":
        state = "unknown" if run is None else run.status
        _dead_letter(rec, fx, f"device observed for a sync run that is {state}: {msg.sync_run_id}")
        return
    fx.runs[run.sync_run_id] = run
    run.counts["seen"] += 1
    new_id = uuid.uuid5(_NS, f"device:{msg.event_id}")
    outcome = decide_observation(
        ledger, run.master_link, run.sync_run_id, msg.device, msg.occurred_at, new_id
    )
    if isinstance(outcome, Created):
        run.counts["created"] += 1
    elif isinstance(outcome, Updated):
        run.counts["updated"] += 1
    elif isinstance(outcome, Unchanged):
        run.counts["unchanged"] += 1
    elif isinstance(outcome, Conflict):
        run.counts["conflicts"] += 1
    if run.dry_run:  # a dry run counts what would happen and changes nothing
        return
    if isinstance(outcome, Conflict):
        fx.conflicts.append(ConflictRow(outcome, msg.tenant_id, run.sync_run_id, msg.occurred_at))
        return
    _record(outcome, msg, ledger, fx, topic)


def _run_finished(
    rec: Record,
    msg: SyncRunCompleted | SyncRunFailed,
    runs: dict[uuid.UUID, RunState],
    fx: Effects,
    topic: str,
    prefix: str,
) -> None:
    run = runs.get(msg.sync_run_id)
    if run is None:
        _dead_letter(rec, fx, f"sync run {msg.sync_run_id} finished but never started")
        return
    if run.status != "running":  # already finished: a redelivered or repeated end message
        return
    run.finished_at = msg.occurred_at
    if isinstance(msg, SyncRunCompleted):
        run.status = "completed"
        run.reported_total = msg.reported_total
        if msg.devices_observed != run.counts["seen"]:
            # Devices are published before the end message on the same partition, so a gap means
            # some were dead-lettered: count them as errors rather than hide them.
            run.counts["errors"] += abs(msg.devices_observed - run.counts["seen"])
    else:
        run.status = "failed"
        run.error = msg.error
    fx.runs[run.sync_run_id] = run
    fx.publish(topic, run.summary(_event_id(msg, "summary"), msg.occurred_at))


def _record(outcome: Outcome, source: Event, ledger: Ledger, fx: Effects, topic: str) -> None:
    """Fold a decided outcome into the ledger and the effects (state rows + outgoing events)."""
    at = source.occurred_at
    if isinstance(outcome, Created | Updated):
        apply(ledger, outcome)
        device = outcome.device
        fx.upserts[device.device_id] = device
        fx.deletes.discard(device.device_id)
        kind: Any = "created"
        previous = None
        if isinstance(outcome, Updated):
            kind = "source_changed" if outcome.source_changed else "updated"
            previous = outcome.previous_source if outcome.source_changed else None
        fx.publish(
            topic,
            LedgerDeviceChanged(
                event_id=_event_id(source, device.device_id, device.version),
                occurred_at=at,
                tenant_id=source.tenant_id,
                change=kind,
                device_id=device.device_id,
                version=device.version,
                changes=outcome.changes,
                provenance=outcome.provenance,
                device=device,
                previous_source=previous,
            ),
        )
    elif isinstance(outcome, Deleted):
        apply(ledger, outcome)
        before = outcome.before
        fx.upserts.pop(before.device_id, None)
        fx.deletes.add(before.device_id)
        fx.publish(
            topic,
            LedgerDeviceChanged(
                event_id=_event_id(source, before.device_id, before.version + 1),
                occurred_at=at,
                tenant_id=source.tenant_id,
                change="deleted",
                device_id=before.device_id,
                version=before.version + 1,
                provenance=outcome.provenance,
                previous_source=before.source,
            ),
        )
    elif isinstance(outcome, Rejected):
        fx.publish(
            topic,
            CommandRejected(
                event_id=_event_id(source, "rejected"),
                occurred_at=at,
                tenant_id=source.tenant_id,
                command_id=outcome.command_id,
                device_id=outcome.device_id,
                code=outcome.code,
                message=outcome.message,
            ),
        )
