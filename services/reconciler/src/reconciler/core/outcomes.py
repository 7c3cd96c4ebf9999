"""What the core decided. The shell persists and publishes these; it decides nothing itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from ledger_contracts import FieldChange, LedgerDevice, MasterLinkSettings, ObservedDevice, Provenance, Source

ConflictRule = Literal["ambiguous_match", "bound_to_other_mdm_device", "bound_to_other_integration"]
Resolution = Literal["link", "create", "ignore", "auto_reenrolled", "unlinked"]
BindingKey = tuple[str, str]  # (integration_id, mdm_device_id)


@dataclass(frozen=True)
class Created:
    device: LedgerDevice
    changes: tuple[FieldChange, ...]
    provenance: Provenance


@dataclass(frozen=True)
class Updated:
    before: LedgerDevice
    device: LedgerDevice
    changes: tuple[FieldChange, ...]
    provenance: Provenance

    @property
    def source_changed(self) -> bool:
        return self.before.source != self.device.source

    @property
    def previous_source(self) -> Source:
        return self.before.source


@dataclass(frozen=True)
class Unchanged:
    device: LedgerDevice


@dataclass(frozen=True)
class Deleted:
    before: LedgerDevice
    provenance: Provenance


@dataclass(frozen=True)
class Conflict:
    """R-M9: nothing was merged or overwritten; a person decides."""

    rule: ConflictRule
    integration_id: str
    observed: ObservedDevice
    candidates: tuple[uuid.UUID, ...]
    message: str


@dataclass(frozen=True)
class Ignored:
    """A person chose to leave this MDM device out of the ledger (ResolveConflict `ignore`)."""

    observed: ObservedDevice


@dataclass(frozen=True)
class Rejected:
    """A command that cannot be applied, with the reason the person gets back."""

    command_id: uuid.UUID
    device_id: uuid.UUID | None
    code: str
    message: str


Outcome = Created | Updated | Unchanged | Deleted | Conflict | Ignored | Rejected


@dataclass(frozen=True)
class ConflictRecord:
    """A conflict as kept between runs: the latest snapshot, the candidates, and how it ended.

    `link` holds the settings of the run that recorded it, so that a resolution applies the same
    precedence and asset-number rules the sync would have applied."""

    conflict_id: uuid.UUID
    tenant_id: str
    link: MasterLinkSettings
    sync_run_id: uuid.UUID
    rule: str
    candidates: tuple[uuid.UUID, ...]
    observed: ObservedDevice
    message: str
    first_seen_at: datetime
    last_seen_at: datetime
    status: Literal["open", "resolved"] = "open"
    resolution: Resolution | None = None
    resolved_device_id: uuid.UUID | None = None
    resolved_by: uuid.UUID | None = None  # the command, when a person resolved it
    resolved_at: datetime | None = None

    @property
    def integration_id(self) -> str:
        return self.link.integration_id

    @property
    def mdm_device_id(self) -> str:
        return self.observed.mdm_device_id

    @property
    def key(self) -> BindingKey:
        return (self.link.integration_id, self.observed.mdm_device_id)

    def close(
        self, resolution: Resolution, device_id: uuid.UUID | None, command_id: uuid.UUID | None, at: datetime
    ) -> ConflictRecord:
        return replace(
            self,
            status="resolved",
            resolution=resolution,
            resolved_device_id=device_id,
            resolved_by=command_id,
            resolved_at=at,
        )


@dataclass(frozen=True)
class Resolved:
    """A person's decision on a conflict (R-M9), taken at once: the closed conflict and the ledger
    change it makes (none for `ignore`)."""

    conflict: ConflictRecord
    change: Created | Updated | None


@dataclass(frozen=True)
class RunEnd:
    """What the end of a run needs beyond the ledger (the shell loads it; the fold adds what the
    same batch saw)."""

    unseen: tuple[uuid.UUID, ...] = ()  # devices bound to the run's integration it did not report
    last_seen: dict[str, datetime] | None = None  # MDM id -> when a kept run last reported it
    # (MDM id the run reported, device bound to another MDM id of the integration it conflicted
    # with); a store may leave out pairs whose device is not in `unseen` (they cannot apply)
    reenroll: tuple[tuple[str, uuid.UUID], ...] = ()
    seen_records: int = 0  # observations recorded for the run (a lost UNLOGGED table shows as fewer)


@dataclass(frozen=True)
class RunEndDecision:
    """R-M10 and re-enrollment, decided once a run is complete."""

    reenrolled: tuple[tuple[Updated, ConflictRecord | None], ...] = ()
    missing: tuple[Updated, ...] = ()
    unseen: int = 0  # bound devices of the integration the run did not report (counts.missing)
    partial: str | None = None  # why nothing was marked, when the run cannot vouch for absence
