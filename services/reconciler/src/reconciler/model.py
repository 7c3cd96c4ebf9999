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
from typing import Any, Literal, TypeAlias

from ledger_contracts import (
    CommandMessage,
    Event,
    LedgerDevice,
    MasterLinkSettings,
    RecordIssue,
    SnapshotMessage,
    SyncRunCounts,
    SyncRunSummary,
    codec,
)

from .core import BindingKey, ConflictRecord, Ledger, LinkGeneration, MdmPriority, RunEnd

# Every message the reconciler consumes: `mdm.snapshots.v1` and `ledger.commands.v1`. The handler
# tables (handlers.py) match on it and end in `assert_never`: a message type added to either union
# and not handled there fails the type check.
Message: TypeAlias = SnapshotMessage | CommandMessage
# "parked" (R-M12) is the reconciler's own: a run of a generation whose command has not arrived yet.
# It is never published; its records wait in `reconciler.parked`.
RunStatus: TypeAlias = Literal["running", "completed", "failed", "refused", "parked"]
ISSUES_KEPT = 1000  # R-M14: a summary lists the first 1,000 warnings and skipped records

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
    # R-M13: the attempt that is (or was last) pulling the run, how many attempts started, how many
    # DeviceObserved the current attempt delivered (its own count, duplicates of earlier attempts
    # included: compared with the connector's `devices_observed`), and attempts ignored because
    # they started after the run had finished (a redelivered request).
    attempt_id: uuid.UUID | None = None
    attempts: int = 1
    attempt_seen: int = 0
    ignored_attempts: list[str] = field(default_factory=list)
    issues: list[RecordIssue] = field(default_factory=list)  # R-M14: the first 1,000

    @property
    def integration_id(self) -> str:
        return self.master_link.integration_id

    @property
    def generation(self) -> int:
        return self.master_link.generation

    def progress(self) -> dict[str, object]:
        """What is stored beside the counts (column `progress`)."""
        return {
            "attempt_id": str(self.attempt_id) if self.attempt_id else None,
            "attempts": self.attempts,
            "attempt_seen": self.attempt_seen,
            "ignored_attempts": self.ignored_attempts,
            "issues": [i.model_dump(mode="json") for i in self.issues],
        }

    def restore(self, progress: dict[str, Any]) -> None:
        attempt = progress.get("attempt_id")
        self.attempt_id = uuid.UUID(attempt) if attempt else None
        self.attempts = int(progress.get("attempts", 1))
        self.attempt_seen = int(progress.get("attempt_seen", 0))
        self.ignored_attempts = list(progress.get("ignored_attempts", []))
        self.issues = [RecordIssue.model_validate(i) for i in progress.get("issues", [])]

    def summary(self, event_id: uuid.UUID, at: datetime) -> SyncRunSummary:
        assert self.status != "parked", "a parked run is never published"
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
            generation=self.generation,
            issues=tuple(self.issues[:ISSUES_KEPT]),
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
    # R-M13: per run, the MDM ids of the batch: which of them an earlier batch of the run already saw
    seen_before: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    # Issue 12 (fast_path.py): the digest of each observed binding (None: not eligible)
    digests: dict[BindingKey, bytes | None] = field(default_factory=dict)


@dataclass
class State:
    """What the store loaded for one fold."""

    ledgers: dict[str, Ledger] = field(default_factory=dict)
    ends: dict[uuid.UUID, RunEnd] = field(default_factory=dict)
    seen_before: dict[uuid.UUID, set[str]] = field(default_factory=dict)  # R-M13, per run
    links: dict[tuple[str, str], LinkGeneration] = field(default_factory=dict)  # R-M12
    # Issue 12 (fast_path.py): per tenant, the bindings whose stored digest is fresh (their device
    # is not loaded), and the batch's digests to store after the full path.
    unchanged: dict[str, set[BindingKey]] = field(default_factory=dict)
    digests: dict[str, dict[BindingKey, bytes | None]] = field(default_factory=dict)


@dataclass
class Seen:
    """The MDM ids a run reported in one batch (R-M10, re-enrollment), stored as one row: 100,000
    devices make 20 rows, not 100,000. `reenroll` pairs an MDM id with the device it conflicted
    with when that device is bound to another MDM id of the same integration."""

    sync_run_id: uuid.UUID
    seen_at: datetime  # the run's start: "last seen" of a device is the start of the last run reporting it
    mdm_device_ids: list[str] = field(default_factory=list)
    reenroll: list[tuple[str, uuid.UUID]] = field(default_factory=list)


@dataclass(frozen=True)
class Parked:
    """R-M12: a record of a run whose generation is newer than the link's current one."""

    tenant_id: str
    integration_id: str
    generation: int
    sync_run_id: uuid.UUID
    record: Record


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
    links: dict[tuple[str, str], LinkGeneration] = field(default_factory=dict)  # R-M12: new current
    parked: list[Parked] = field(default_factory=list)  # R-M12: records waiting for their generation
    # R-S7: (tenant, integration, MDM id) -> the device an unlink kept
    former: dict[tuple[str, str, str], uuid.UUID] = field(default_factory=dict)
    # Issue 12 (fast_path.py): (tenant, integration, MDM id) -> (device, its version, digest)
    digests: dict[tuple[str, str, str], tuple[uuid.UUID, int, bytes]] = field(default_factory=dict)
    priority: dict[str, MdmPriority] = field(default_factory=dict)  # R-P1: tenant -> its new priority
    # R-P1 default: (tenant, integration) -> a link's creation (time, master link id); the earliest stays
    link_order: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)

    def publish(self, topic: str, event: Event) -> None:
        key, value = codec.encode(event)
        self.outbox.append((topic, key, value, []))
