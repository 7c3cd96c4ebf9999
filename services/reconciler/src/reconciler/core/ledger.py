"""An in-memory view of one tenant's ledger with the indexes matching needs. Pure: no I/O.

The shell loads the devices a batch can touch (by binding, key or id) into a `Ledger`; the core
decides against it and applies each outcome, so later devices of the same batch see earlier ones.
"""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ledger_contracts import Binding, LedgerDevice, LedgerMatchKey

from .keys import match_key, normalise
from .outcomes import BindingKey, ConflictRecord
from .priority import MdmPriority


def binding_key(device: LedgerDevice) -> BindingKey | None:
    """The primary binding (R-P2: the highest-priority bound MDM)."""
    b = device.binding
    return (b.integration_id, b.mdm_device_id) if b else None


def binding_of(device: LedgerDevice, integration_id: str) -> Binding | None:
    """R-P2: the device's binding to an MDM device of `integration_id` (primary or other)."""
    if device.binding is not None and device.binding.integration_id == integration_id:
        return device.binding
    return next(
        (o.binding for o in device.other_bindings if o.binding.integration_id == integration_id), None
    )


def binding_keys(device: LedgerDevice) -> list[BindingKey]:
    """Every binding of the device, primary first (R-P2: one MDM device per integration)."""
    keys = [(b.integration_id, b.mdm_device_id) for b in [device.binding] if b is not None]
    return keys + [(o.binding.integration_id, o.binding.mdm_device_id) for o in device.other_bindings]


@dataclass
class Ledger:
    tenant_id: str
    devices: dict[uuid.UUID, LedgerDevice] = field(default_factory=dict)
    by_binding: dict[BindingKey, uuid.UUID] = field(default_factory=dict)
    by_serial: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    by_asset: dict[str, set[uuid.UUID]] = field(default_factory=lambda: defaultdict(set))
    # R-M9: open conflicts by MDM device, and any conflict a command names by id.
    conflicts: dict[BindingKey, ConflictRecord] = field(default_factory=dict)
    conflicts_by_id: dict[uuid.UUID, ConflictRecord] = field(default_factory=dict)
    ignored: set[BindingKey] = field(default_factory=set)  # MDM devices a person chose to leave out
    # R-S7: bindings an unlink (keep) removed, remembered: (integration, MDM id) -> the kept device.
    former: dict[BindingKey, uuid.UUID] = field(default_factory=dict)
    priority: MdmPriority = field(default_factory=MdmPriority)  # R-P1

    @classmethod
    def of(cls, tenant_id: str, devices: Iterable[LedgerDevice]) -> Ledger:
        ledger = cls(tenant_id)
        for d in devices:
            ledger.put(d)
        return ledger

    def put(self, device: LedgerDevice) -> None:
        self.remove(device.device_id)
        self.devices[device.device_id] = device
        for bk in binding_keys(device):
            self.by_binding[bk] = device.device_id
        if (sk := match_key(device.serial_number)) is not None:
            self.by_serial[sk].add(device.device_id)
        if (ak := normalise(device.asset_number)) is not None:
            self.by_asset[ak].add(device.device_id)

    def remove(self, device_id: uuid.UUID) -> None:
        old = self.devices.pop(device_id, None)
        if old is None:
            return
        for bk in binding_keys(old):
            if self.by_binding.get(bk) == device_id:
                del self.by_binding[bk]
        if (sk := match_key(old.serial_number)) is not None:
            self.by_serial[sk].discard(device_id)
        if (ak := normalise(old.asset_number)) is not None:
            self.by_asset[ak].discard(device_id)

    def put_conflict(self, conflict: ConflictRecord) -> None:
        self.conflicts_by_id[conflict.conflict_id] = conflict
        current = self.conflicts.get(conflict.key)
        if conflict.status == "open":
            self.conflicts[conflict.key] = conflict
        elif current is not None and current.conflict_id == conflict.conflict_id:
            del self.conflicts[conflict.key]

    def fork(self) -> Ledger:
        """A copy to plan on (dry run): changes to it never reach this ledger."""
        return Ledger(
            self.tenant_id,
            dict(self.devices),
            dict(self.by_binding),
            defaultdict(set, {k: set(v) for k, v in self.by_serial.items()}),
            defaultdict(set, {k: set(v) for k, v in self.by_asset.items()}),
            dict(self.conflicts),
            dict(self.conflicts_by_id),
            set(self.ignored),
            dict(self.former),
            self.priority,
        )

    def bound_to(self, integration_id: str, mdm_device_id: str) -> LedgerDevice | None:
        device_id = self.by_binding.get((integration_id, mdm_device_id))
        return self.devices[device_id] if device_id else None

    def former_of(self, integration_id: str, mdm_device_id: str) -> LedgerDevice | None:
        """R-S7: the device an unlink kept (or, shared, left bound to another MDM: R-P4) from this
        MDM device, if it still exists and has no binding of `integration_id` (one MDM device per
        integration, R-P2): unbound, or bound to other integrations only."""
        device_id = self.former.get((integration_id, mdm_device_id))
        device = self.devices.get(device_id) if device_id else None
        return device if device is not None and binding_of(device, integration_id) is None else None

    def candidates(self, ledger_key: LedgerMatchKey, key: str) -> list[LedgerDevice]:
        """Devices whose `ledger_key` field matches `key` (already normalised), in an order of their
        content (`_content_order`), never of their ids: a device id derives from the event that
        created it, and two correct runs (or a run and its replay after a crash) need not share
        those ids, while a conflict must name its candidates in the same order in both."""
        index = self.by_serial if ledger_key == "serial_number" else self.by_asset
        ids = index.get(key, ())
        return sorted((self.devices[i] for i in ids), key=_content_order)

    def asset_number_owner(self, asset_number: str) -> uuid.UUID | None:
        """A device holding `asset_number` (normalised), the first in content order; None if free."""
        ids = self.by_asset.get(normalise(asset_number) or "", ())
        return min((self.devices[i] for i in ids), key=_content_order).device_id if ids else None

    def asset_number_taken(self, asset_number: str, device_id: uuid.UUID) -> bool:
        """R-J3: `asset_number` (normalised) is held by a device other than `device_id`."""
        ids = self.by_asset.get(normalise(asset_number) or "", ())
        return any(i != device_id for i in ids)

    def unique_asset_number(self, proposed: str, device_id: uuid.UUID) -> str:
        """R-J3 (applied to every MDM): a taken asset number gets the prefix `SYS`; if that is taken
        too, `SYS<n>-2`, `SYS<n>-3`, … — the first free one. Deterministic for a given ledger."""
        for candidate in _asset_number_candidates(proposed):
            if not self.asset_number_taken(candidate, device_id):
                return candidate
        raise AssertionError("unreachable: the candidates never end")


def _content_order(device: LedgerDevice) -> tuple[str, ...]:
    """Bound devices by their bindings, then unbound ones by what they hold; the id breaks ties of
    devices that hold exactly the same (only then may two runs order them differently)."""
    bindings = [f"{i}\x1f{m}" for i, m in binding_keys(device)]
    return (
        "\x1e".join(bindings) if bindings else "\x7f",
        device.source,
        device.serial_number or "",
        device.asset_number or "",
        device.model or "",
        device.assigned_user or "",
        str(device.device_id),
    )


def _asset_number_candidates(proposed: str) -> Iterator[str]:
    yield proposed
    yield f"SYS{proposed}"
    yield from (f"SYS{proposed}-{n}" for n in itertools.count(2))
