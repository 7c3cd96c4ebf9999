"""The reconciler's model around the core: a consumed `Record`, the state a batch may read
(`Needs` -> `State`), what a run is (`RunState`, `Seen`), and what folding a batch produces
(`Effects`). No I/O and no decisions here: handlers.py routes each message to the core, a store
(adapters/postgres) loads `State` and persists `Effects`. Every id and timestamp is derived from
the input (event ids, `occurred_at`), so processing the same batch against the same state again
produces byte-identical events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias

from ledger_contracts import (
    CommandMessage,
    Event,
    LedgerDevice,
    MasterLinkSettings,
    SnapshotMessage,
    SyncRunCounts,
    SyncRunSummary,
    codec,
)

from .core import BindingKey, ConflictRecord, Ledger, RunEnd

# Every message the reconciler consumes: `mdm.snapshots.v1` and `ledger.commands.v1`. The handler
# tables (handlers.py) match on it and end in `assert_never`: a message type added to either union
# and not handled there fails the type check.
Message: TypeAlias = SnapshotMessage | CommandMessage
RunStatus: TypeAlias = Literal["running", "completed", "failed", "refused"]

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
    message: Message


@dataclass
class RunState:
    sync_run_id: uuid.UUID
    tenant_id: str
    master_link: MasterLinkSettings
    dry_run: bool
    status: RunStatus
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
            status=self.status,
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
