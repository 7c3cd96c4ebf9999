"""R-C2: a CSV import of manual data, decided as a whole — every row applies, or none does.

The ledger API validated the file against its projection; this checks again against the ledger
itself, which may have moved since (a sync took an asset number, a device was deleted). Asset
numbers are checked on the *final* state of the import, so a file that swaps two devices' numbers
is valid whatever the order of its rows. Every change carries the rule `csv` (R-M11).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ledger_contracts import EDITABLE_FIELDS, FieldChange, ImportDevices, ImportRow, LedgerDevice, Provenance

from .keys import normalise
from .ledger import Ledger
from .outcomes import Created, Rejected, Updated

MAX_ERRORS = 20  # named in the rejection; the rest are counted


@dataclass(frozen=True)
class ImportDecision:
    outcomes: tuple[Created | Updated, ...]
    unchanged: int

    @property
    def created(self) -> int:
        return sum(isinstance(o, Created) for o in self.outcomes)

    @property
    def updated(self) -> int:
        return sum(isinstance(o, Updated) for o in self.outcomes)


def _values(row: ImportRow) -> dict[str, object]:
    """The row's columns; blank text is empty, as for a manual edit."""
    out: dict[str, object] = {}
    for name in row.fields.model_fields_set:
        value = getattr(row.fields, name)
        if isinstance(value, str):
            value = value.strip() or None
        out[name] = value
    return out


def _merged_custom(current: dict[str, str | None], given: object) -> dict[str, str | None]:
    custom = dict(current)
    for key, value in (given if isinstance(given, dict) else {}).items():  # the file's custom columns
        if value is None or (isinstance(value, str) and not value.strip()):
            custom.pop(key, None)
        else:
            custom[key] = value
    return custom


def _change(field: str, before: object, after: object) -> FieldChange:
    return FieldChange(field=field, before=before, after=after, rule="csv")


def _changes(before: LedgerDevice | None, after: LedgerDevice) -> list[FieldChange]:
    changes = []
    for name in EDITABLE_FIELDS:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name)
        if old != new:
            changes.append(_change(name, old, new))
    old_custom = before.custom_fields if before is not None else {}
    for key in sorted(set(old_custom) | set(after.custom_fields)):
        if old_custom.get(key) != after.custom_fields.get(key):
            changes.append(_change(f"custom_fields.{key}", old_custom.get(key), after.custom_fields.get(key)))
    return changes


def decide_import(ledger: Ledger, command: ImportDevices, now: datetime) -> ImportDecision | Rejected:
    errors: list[tuple[int, str]] = []  # (row, message)
    provenance = Provenance(actor="csv", command_id=command.event_id)
    final: dict[uuid.UUID, tuple[int, LedgerDevice | None, LedgerDevice]] = {}  # id -> (row, before, after)
    for row in command.rows:
        values = _values(row)
        custom = values.pop("custom_fields", None)
        if row.device_id is None:
            device_id = command.created_device_id(row.row)
            if device_id in ledger.devices:
                errors.append((row.row, f"row {row.row}: already imported (device {device_id} exists)"))
                continue
            after = LedgerDevice(
                device_id=device_id,
                tenant_id=ledger.tenant_id,
                version=1,
                source="manual",
                custom_fields=_merged_custom({}, custom),
                created_at=now,
                updated_at=now,
                **values,
            )
            final[device_id] = (row.row, None, after)
            continue
        before = ledger.devices.get(row.device_id)
        if before is None:
            errors.append((row.row, f"row {row.row}: no device {row.device_id}"))
            continue
        if row.device_id in final:
            first = final[row.device_id][0]
            errors.append((row.row, f"row {row.row}: device {row.device_id} is also on row {first}"))
            continue
        update: dict[str, object] = dict(values)
        if "custom_fields" in row.fields.model_fields_set:
            update["custom_fields"] = _merged_custom(before.custom_fields, custom)
        final[row.device_id] = (row.row, before, before.model_copy(update=update))
    errors += _asset_number_clashes(ledger, final)
    if errors:
        named = [text for _row, text in sorted(errors)[:MAX_ERRORS]]
        more = f" (+{len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
        return Rejected(command.event_id, None, "import_invalid", "; ".join(named) + more)
    outcomes: list[Created | Updated] = []
    unchanged = 0
    for _row, before, after in sorted(final.values(), key=lambda v: v[0]):
        changes = _changes(before, after)
        if before is None:
            outcomes.append(Created(after, tuple(changes), provenance))
        elif changes:
            new = after.model_copy(update={"version": before.version + 1, "updated_at": now})
            outcomes.append(Updated(before, new, tuple(changes), provenance))
        else:
            unchanged += 1
    return ImportDecision(tuple(outcomes), unchanged)


def _asset_number_clashes(
    ledger: Ledger, final: dict[uuid.UUID, tuple[int, LedgerDevice | None, LedgerDevice]]
) -> list[tuple[int, str]]:
    """Asset numbers stay unique per tenant (compared like R-J3: case and spaces ignored) once the
    whole import is applied. The ledger must hold every device owning one of the file's numbers."""
    owners: dict[str, list[uuid.UUID]] = {}
    for device_id, (_row, _before, after) in final.items():
        if (key := normalise(after.asset_number)) is not None:
            owners.setdefault(key, []).append(device_id)
    errors = []
    for key, ids in owners.items():
        others = [d for d in ledger.by_asset.get(key, ()) if d not in final]
        if len(ids) == 1 and not others:
            continue
        rows = sorted(final[d][0] for d in ids)
        asset = final[ids[0]][2].asset_number
        if others:
            owner = sorted(others, key=str)[0]
            errors.append((rows[0], f"row {rows[0]}: asset number {asset!r} belongs to device {owner}"))
        else:
            listed = ", ".join(map(str, rows))
            errors.append((rows[0], f"rows {listed}: asset number {asset!r} appears more than once"))
    return errors
