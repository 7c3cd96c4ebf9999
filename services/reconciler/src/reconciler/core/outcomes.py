"""What the core decided. The shell persists and publishes these; it decides nothing itself."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from ledger_contracts import FieldChange, LedgerDevice, ObservedDevice, Provenance, Source

ConflictRule = Literal["ambiguous_match", "bound_to_other_mdm_device", "bound_to_other_integration"]


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
class Rejected:
    """A command that cannot be applied, with the reason the person gets back."""

    command_id: uuid.UUID
    device_id: uuid.UUID
    code: str
    message: str


Outcome = Created | Updated | Unchanged | Deleted | Conflict | Rejected
