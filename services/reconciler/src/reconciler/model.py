"""A consumed batch: its records, the state it may read (`needs`), and the effects of folding it.

No I/O here: `needs()` says what state to load, `fold()` (fold.py) decides, a store persists
`Effects`. Every id and timestamp is derived from the input (event ids, `occurred_at`), so
processing the same batch against the same state again produces byte-identical events.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from ledger_contracts import (
    CreateDevice,
    DeleteDevice,
    DeviceObserved,
    Event,
    ImportDevices,
    LedgerDevice,
    MasterLinkSettings,
    ResolveConflict,
    SyncRunCompleted,
    SyncRunCounts,
    SyncRunStarted,
    SyncRunSummary,
    UpdateDevice,
    codec,
)

from .core import BindingKey, ConflictRecord, Ledger, RunEnd, match_key, normalise, proposed_asset_number

NS = uuid.UUID("6d1f3a52-1c44-4c1b-9a0e-0a8f3e7d2b10")


def event_id(source: Event, *parts: object) -> uuid.UUID:
    """The id of an event derived from `source`: the same input always gives the same id."""
    return uuid.uuid5(NS, ":".join([str(source.event_id), *map(str, parts)]))


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

    @property
    def integration_id(self) -> str:
        return self.master_link.integration_id

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
    others (and the R-J3 `SYS` chain of their asset number, their open conflict, whether they are
    ignored) are loaded in a second step."""

    device_ids: set[uuid.UUID] = field(default_factory=set)
    asset_keys: set[str] = field(default_factory=set)  # asked for by commands
    observed: dict[BindingKey, Wanted] = field(default_factory=dict)
    conflicts: dict[uuid.UUID, ConflictRecord] = field(default_factory=dict)  # named by commands
    ends: dict[uuid.UUID, str] = field(default_factory=dict)  # completing run -> its integration


@dataclass
class State:
    """What the store loaded for one fold."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    ends: dict[uuid.UUID, RunEnd] = field(default_factory=dict)


@dataclass
class Seen:
    """The MDM ids a run reported in one batch (R-M10, re-enrollment), stored as one row: 100,000
    devices make 20 rows, not 100,000. `reenroll` pairs an MDM id with the device it conflicted
    with when that device is bound to another MDM id of the same integration."""

    sync_run_id: uuid.UUID
    seen_at: datetime  # the latest report in the batch: "last seen" is known to the batch
    mdm_device_ids: list[str] = field(default_factory=list)
    reenroll: list[tuple[str, uuid.UUID]] = field(default_factory=list)


@dataclass
class Effects:
    upserts: dict[uuid.UUID, LedgerDevice] = field(default_factory=dict)
    deletes: set[uuid.UUID] = field(default_factory=set)
    runs: dict[uuid.UUID, RunState] = field(default_factory=dict)
    conflicts: dict[uuid.UUID, ConflictRecord] = field(default_factory=dict)
    ignored: dict[tuple[str, str, str], uuid.UUID] = field(default_factory=dict)  # (tenant, i, m) -> conflict
    forget_ignored: set[tuple[str, str]] = field(default_factory=set)  # (tenant, integration): unlinked
    seen: dict[uuid.UUID, Seen] = field(default_factory=dict)  # by run
    # After a complete run, the observations of the integration's earlier finished runs are no
    # longer needed (the run's own are kept: they date the devices a later run will not see).
    prune_seen: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)
    drop_seen: set[uuid.UUID] = field(default_factory=set)  # a dry run's, once it ended
    outbox: list[tuple[str, bytes, bytes, list[tuple[str, bytes]]]] = field(default_factory=list)

    def publish(self, topic: str, event: Event) -> None:
        key, value = codec.encode(event)
        self.outbox.append((topic, key, value, []))


def _link_of(msg: Event, runs: dict[uuid.UUID, RunState], started: dict) -> MasterLinkSettings | None:
    run = runs.get(msg.sync_run_id)  # type: ignore[attr-defined]
    return run.master_link if run else started.get(msg.sync_run_id)  # type: ignore[attr-defined]


def add_wanted(n: Needs, link: MasterLinkSettings, o: object) -> None:
    key = match_key(o.serial_number if link.matching_key.mdm == "serial_number" else o.uuid)  # type: ignore[attr-defined]
    asset = proposed_asset_number(o, link.asset_number_source)  # type: ignore[arg-type]
    n.observed[(link.integration_id, o.mdm_device_id)] = Wanted(  # type: ignore[attr-defined]
        link.matching_key.ledger, key, normalise(asset)
    )


def needs(
    records: list[Record],
    runs: dict[uuid.UUID, RunState],
    conflicts: dict[uuid.UUID, ConflictRecord] | None = None,
) -> dict[str, Needs]:
    """Per tenant, what the batch may read. `runs` must already hold the batch's runs, `conflicts`
    the conflicts its commands name."""
    out: dict[str, Needs] = {}
    conflicts = conflicts or {}
    started = {
        r.message.sync_run_id: r.message.master_link for r in records if isinstance(r.message, SyncRunStarted)
    }
    for rec in records:
        msg = rec.message
        n = out.get(msg.tenant_id) or out.setdefault(msg.tenant_id, Needs())
        if type(msg) is DeviceObserved:  # nearly every record (exact type: cheaper than isinstance)
            run = runs.get(msg.sync_run_id)
            link = run.master_link if run else started.get(msg.sync_run_id)
            if link is not None:
                add_wanted(n, link, msg.device)
        elif isinstance(msg, CreateDevice | UpdateDevice | DeleteDevice):
            n.device_ids.add(msg.device_id)
            fields = getattr(msg, "fields", None)
            if fields is not None and (key := normalise(fields.asset_number)):
                n.asset_keys.add(key)
        elif isinstance(msg, SyncRunCompleted):
            if (link := _link_of(msg, runs, started)) is not None:
                n.ends[msg.sync_run_id] = link.integration_id
        elif isinstance(msg, ResolveConflict):
            if msg.device_id is not None:
                n.device_ids.add(msg.device_id)
            if (c := conflicts.get(msg.conflict_id)) is not None and c.tenant_id == msg.tenant_id:
                n.conflicts[c.conflict_id] = c
                n.device_ids.update(c.candidates)
                add_wanted(n, c.link, c.observed)
        elif isinstance(msg, ImportDevices):  # R-C2 (csv_import.py): the rows' devices, or the ids
            for row in msg.rows:  # they would create (a redelivered import), and every asset number
                n.device_ids.add(row.device_id or msg.created_device_id(row.row))
                if (key := normalise(row.fields.asset_number)) is not None:
                    n.asset_keys.add(key)
    return out


def canonical(records: list[Record]) -> list[Record]:
    """The batch in a canonical order: each stretch of consecutive observations sorted by (MDM id,
    run). Which of two devices of one run competing for one key or asset number gets it, and
    so the final ledger, no longer depends on the order a connector happened to publish them in.
    Other messages keep their place: a run's start, its end and commands are barriers."""
    out: list[Record] = []
    stretch: list[Record] = []
    for rec in records:
        if type(rec.message) is DeviceObserved:  # not isinstance: pydantic classes are ABCs (slow)
            stretch.append(rec)
            continue
        out += sorted(stretch, key=_observation_order)
        stretch = []
        out.append(rec)
    return out + sorted(stretch, key=_observation_order)


# MDM id first (the run id only breaks ties of two runs in one stretch); attrgetter runs in C.
_observation_order = operator.attrgetter("message.device.mdm_device_id", "message.sync_run_id")
