"""R-M14 for translators: read one record's optional fields, emptying what is malformed.

A translator makes one `RecordIssues` per record (after it has a usable id) and reads each
optional field through it. A value of the wrong type, a string that is not a timestamp, or a
string longer than any real value (`MAX_TEXT_CHARS`; a 5 MB device name is garbage, not a name)
becomes None, and a `RecordIssue(kind="warning")` names the device, the MDM's field and why. The
device is kept. Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger_contracts import RecordIssue

MAX_TEXT_CHARS = 1024
# Timestamps outside this window are "no value" sentinels, not dates: .NET DateTime.MinValue
# (0001-01-01), the FILETIME and Unix zeroes (1601, 1970), DateTime.MaxValue (9999-12-31). No device
# was enrolled in an MDM before 1990.
EARLIEST_YEAR, LATEST_YEAR = 1990, 9999


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 60 else f"{text[:57]}..."


class RecordIssues:
    def __init__(self, mdm_device_id: str) -> None:
        self.mdm_device_id = mdm_device_id
        self.items: list[RecordIssue] = []

    def warn(self, field: str, reason: str) -> None:
        self.items.append(
            RecordIssue(kind="warning", mdm_device_id=self.mdm_device_id, field=field, reason=reason[:500])
        )

    def text(self, field: str, value: Any, *, coerce_numbers: bool = False) -> str | None:
        """A string trimmed; "" and null are None; another type or an absurd length: None + warning."""
        if value is None:
            return None
        if coerce_numbers and isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.warn(field, f"must be a string, got {type(value).__name__}; left empty")
            return None
        if len(value) > MAX_TEXT_CHARS:
            self.warn(field, f"is {len(value):,} characters long (more than {MAX_TEXT_CHARS:,}); left empty")
            return None
        return value.strip() or None

    def integer(self, field: str, value: Any) -> int | None:
        """An integer, also from a string of digits (OData Int64 under IEEE754Compatible)."""
        if value is None:
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 30:
            return int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.warn(field, f"must be an integer, got {_shown(value)}; left empty")
            return None
        return value

    def boolean(self, field: str, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.warn(field, f"must be true or false, got {_shown(value)}; left empty")
        return None

    def timestamp(self, field: str, value: Any) -> datetime | None:
        """ISO 8601 -> UTC; no zone means UTC; sentinel years are no value; garbage: None + warning."""
        text = self.text(field, value)
        if text is None:
            return None
        try:
            # Python 3.11 parses "Z", offsets and Graph's 7 fractional digits (truncated to µs).
            parsed = datetime.fromisoformat(text)
        except ValueError:
            self.warn(field, f"is not an ISO 8601 timestamp: {_shown(text)}; left empty")
            return None
        if not EARLIEST_YEAR <= parsed.year < LATEST_YEAR:
            return None  # a sentinel; checked before any zone arithmetic, which could overflow
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    def section(self, field: str, value: Any) -> dict[str, Any]:
        """A nested object; null or absent is {}; another type: {} + warning."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.warn(field, f"must be an object, got {type(value).__name__}; left empty")
            return {}
        return value

    def items_of(self, field: str, value: Any) -> list[Any]:
        """A list; null or absent is []; another type: [] + warning."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.warn(field, f"must be a list, got {type(value).__name__}; left empty")
            return []
        return value
