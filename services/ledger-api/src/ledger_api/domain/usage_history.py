"""R-C3 usage history: who used a device from when to when, as CSV. Pure: the file's checks, given
the devices of the tenant and (to append) the periods already recorded.

Columns: `device_id`, `asset_number`, `user`, `from`, `to`. A row names its device by `device_id`,
else by `asset_number` (compared without case and spaces); when both are given they must agree.
`from`/`to` are days (YYYY-MM-DD), both included; an empty `to` means "still in use". Two periods
of one device may not overlap — a period starting on the day another ends overlaps it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from .device_csv import RowError, asset_key, blank, records

COLUMNS: tuple[str, ...] = ("device_id", "asset_number", "user", "from", "to")
Mode = Literal["replace", "append"]


@dataclass(frozen=True)
class Period:
    row: int | None  # None: already recorded
    device_id: uuid.UUID
    user: str
    used_from: date
    used_to: date | None

    def overlaps(self, other: Period) -> bool:
        end, other_end = self.used_to or date.max, other.used_to or date.max
        return self.used_from <= other_end and other.used_from <= end


@dataclass
class Devices:
    """The tenant's devices: by id, and by asset number key (asset_key)."""

    ids: set[uuid.UUID] = field(default_factory=set)
    by_asset: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class UsageFile:
    periods: list[Period]
    errors: list[RowError]

    @property
    def devices(self) -> set[uuid.UUID]:
        return {p.device_id for p in self.periods}


def _date(text: str | None, column: str, number: int, errors: list[RowError]) -> date | None:
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        errors.append(RowError(number, column, f"{text!r} is not a date (YYYY-MM-DD)"))
        return None


def read_usage_file(text: str, devices: Devices) -> UsageFile:
    rows = records(text)
    first = next(rows, None)
    if first is None:
        return UsageFile([], [RowError(None, None, "the file is empty (a header row is needed)")])
    columns = [h.strip() for h in first[1]]
    errors = _header_errors(columns)
    out = UsageFile([], errors)
    if errors:
        return out
    for number, cells in rows:
        if len(cells) != len(columns):
            errors.append(RowError(number, None, f"has {len(cells)} cells, the header has {len(columns)}"))
            continue
        values = {c: blank(v) for c, v in zip(columns, cells, strict=True)}
        found = len(errors)
        device_id = _device(number, values, devices, errors)
        user = values.get("user")
        if user is None:
            errors.append(RowError(number, "user", "who used the device is missing"))
        used_from = _date(values.get("from"), "from", number, errors)
        if values.get("from") is None:
            errors.append(RowError(number, "from", "the first day of use is missing"))
        used_to = _date(values.get("to"), "to", number, errors)
        if used_from and used_to and used_to < used_from:
            errors.append(RowError(number, "to", f"ends ({used_to}) before it starts ({used_from})"))
        if len(errors) == found:
            # no new error: device_id, user and used_from were found (each None added an error)
            out.periods.append(Period(number, device_id, user, used_from, used_to))  # type: ignore[arg-type]
    return out


def _header_errors(columns: list[str]) -> list[RowError]:
    errors = []
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        errors.append(RowError(1, None, f"duplicate column(s): {', '.join(duplicates)}"))
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        errors.append(
            RowError(1, None, f"unknown column(s): {', '.join(unknown)} (allowed: {', '.join(COLUMNS)})")
        )
    missing = [c for c in ("user", "from") if c not in columns]
    if "device_id" not in columns and "asset_number" not in columns:
        missing.append("device_id or asset_number")
    if missing:
        errors.append(RowError(1, None, f"missing column(s): {', '.join(missing)}"))
    return errors


def _device(
    number: int, values: dict[str, str | None], devices: Devices, errors: list[RowError]
) -> uuid.UUID | None:
    by_id = by_asset = None
    if (raw := values.get("device_id")) is not None:
        try:
            by_id = uuid.UUID(raw)
        except ValueError:
            errors.append(RowError(number, "device_id", f"{raw!r} is not a device id"))
            return None
        if by_id not in devices.ids:
            errors.append(RowError(number, "device_id", f"no device {by_id} in this ledger"))
            return None
    if (asset := values.get("asset_number")) is not None:
        by_asset = devices.by_asset.get(asset_key(asset) or "")
        if by_asset is None and by_id is None:
            errors.append(RowError(number, "asset_number", f"no device has the asset number {asset!r}"))
            return None
    if by_id is not None and by_asset is not None and by_id != by_asset:
        errors.append(
            RowError(number, "asset_number", f"asset number {asset!r} is device {by_asset}, not {by_id}")
        )
        return None
    if by_id is None and by_asset is None:
        errors.append(RowError(number, None, "the device is missing (device_id or asset_number)"))
    return by_id or by_asset


def overlaps(periods: list[Period], recorded: list[Period]) -> list[RowError]:
    """Every pair of overlapping periods of one device; `recorded` are those kept (append mode)."""
    by_device: dict[uuid.UUID, list[Period]] = {}
    for p in [*recorded, *periods]:
        by_device.setdefault(p.device_id, []).append(p)
    errors = []
    for device_id, mine in by_device.items():
        mine.sort(key=lambda p: (p.used_from, p.row or 0))
        open_until: Period | None = None  # the period reaching furthest so far
        for p in mine:
            if open_until is not None and open_until.overlaps(p) and p.row is not None:
                other = f"row {open_until.row}" if open_until.row else "a period already recorded"
                errors.append(
                    RowError(
                        p.row,
                        "from",
                        f"{p.used_from}–{p.used_to or '…'} of device {device_id} overlaps {other} "
                        f"({open_until.used_from}–{open_until.used_to or '…'})",
                    )
                )
            elif open_until is not None and open_until.overlaps(p) and open_until.row is not None:
                errors.append(
                    RowError(
                        open_until.row, "to", f"overlaps a period already recorded for device {device_id}"
                    )
                )
            if open_until is None or (open_until.used_to or date.max) < (p.used_to or date.max):
                open_until = p
    return errors


# --- by hand and from the MDM (issue 10 item 6) ----------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A recorded period with its id and where it came from (`manual`, `import` or `sync`)."""

    entry_id: int
    user: str
    used_from: date
    used_to: date | None
    origin: str = "manual"

    def overlaps(self, used_from: date, used_to: date | None) -> bool:
        end, other_end = self.used_to or date.max, used_to or date.max
        return self.used_from <= other_end and used_from <= end


def conflicts_with(
    entries: list[Entry], used_from: date, used_to: date | None, *, ignore: int | None = None
) -> list[Entry]:
    """The recorded periods that a period from `used_from` to `used_to` would overlap (both days
    included; `ignore` = the entry being edited)."""
    return [e for e in entries if e.entry_id != ignore and e.overlaps(used_from, used_to)]


@dataclass
class UserChangeSteps:
    """What an MDM's change of the assigned user on day `day` does to a device's periods."""

    close: list[tuple[int, date]] = field(default_factory=list)  # (entry_id, last day of use)
    delete: list[int] = field(default_factory=list)
    open_for: str | None = None  # a new period from `day`, still in use


def assigned_user_changed(entries: list[Entry], new_user: str | None, day: date) -> UserChangeSteps:
    """R-C3, automatic: the period still open ends the day before the change, and the new user's
    period starts on the day of the change (periods are whole days, so the last user of a day holds
    it). Rules:
    - an open period that started on that very day came from the MDM too: it is replaced (deleted);
      one entered by hand is kept and nothing is opened (hand-written data wins);
    - no new period when the new user is empty, already holds the open period, or when another
      period recorded by hand reaches the day of the change (it would overlap).
    """
    steps = UserChangeSteps()
    open_entries = [e for e in entries if e.used_to is None]
    current = max(open_entries, key=lambda e: e.used_from) if open_entries else None
    if current is not None and new_user is not None and current.user.casefold() == new_user.casefold():
        return steps  # the MDM reports the user the ledger already has
    removed: set[int] = set()
    if current is not None:
        if current.used_from < day:
            steps.close.append((current.entry_id, day - timedelta(days=1)))
        elif current.origin == "sync":
            steps.delete.append(current.entry_id)
            removed.add(current.entry_id)
        else:
            return steps
    if new_user is None:
        return steps
    others = [
        e
        for e in entries
        if e.entry_id not in removed and (current is None or e.entry_id != current.entry_id)
    ]
    if conflicts_with(others, day, None):
        return steps
    steps.open_for = new_user
    return steps
