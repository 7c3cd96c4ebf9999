"""Graph `managedDevice` -> `ObservedDevice` (SPEC §2, R-I1..R-I8). Pure: no I/O, no clock, no logging.

Warnings (e.g. an unknown `deviceRegistrationState`) are *returned*, and the caller logs them; a
payload that cannot be a managedDevice raises `MalformedDevice`, which the caller counts and skips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, get_args

from pydantic import ValidationError

from ledger_contracts import ObservedDevice, RegistrationStatus

# The properties translation reads: the connector asks Graph for exactly these ($select).
GRAPH_FIELDS: tuple[str, ...] = (
    "id",
    "deviceName",
    "serialNumber",
    "operatingSystem",
    "osVersion",
    "manufacturer",
    "model",
    "emailAddress",
    "userPrincipalName",
    "enrolledDateTime",
    "lastSyncDateTime",
    "totalStorageSpaceInBytes",
    "deviceRegistrationState",
)

# R-I1 [beyond]: serial values that name no device. Compared after trimming, case-folded and with all
# whitespace removed ("Default string" == "Defaultstring" == "DEFAULT STRING"). Sources: research
# notes §6 (Intune/Autopilot reports, lf-edge/eve's union of eleven projects' lists, Fleet, GLPI).
# "[REDACTED]" is there because published fixtures carry it and it identifies nothing.
PLACEHOLDER_SERIALS: frozenset[str] = frozenset(
    re.sub(r"\s+", "", s).casefold()
    for s in (
        "0",
        "-1",
        "To be filled by O.E.M.",
        "To be filled by OEM",
        "Default string",
        "Default",
        "System Serial Number",
        "Chassis Serial Number",
        "Base Board Serial Number",
        "Serial Number",
        "SerialNumber",
        "Not Specified",
        "Not Available",
        "Not Applicable",
        "None",
        "Null",
        "N/A",
        "NA",
        "Unknown",
        "OEM",
        "O.E.M.",
        "INVALID",
        "0123456789",
        "123456789",
        "1234567890",
        "[REDACTED]",
    )
)
_WHITESPACE = re.compile(r"\s+")
# Separators ignored by the "one repeated character" rule: "0000-0000", "XXXXXXXX", "11111111".
_SEPARATORS = re.compile(r"[\s\-_.:/]+")

# Manufacturer/model values that are unfilled firmware defaults, not hardware names [beyond]: writing
# them would fill an empty ledger field (ledger-first) with junk that a person then has to clear.
PLACEHOLDER_HARDWARE: frozenset[str] = frozenset(
    re.sub(r"\s+", "", s).casefold()
    for s in (
        "To be filled by O.E.M.",
        "System manufacturer",
        "System Product Name",
        "System Version",
        "Default string",
        "Not Specified",
        "Unknown",
        "OEM",
        "O.E.M.",
    )
)

REGISTRATION_STATES: frozenset[str] = frozenset(get_args(RegistrationStatus))

# Timestamps outside this window are "no value" sentinels, not dates: .NET DateTime.MinValue
# (0001-01-01), the FILETIME and Unix zeroes (1601, 1970), DateTime.MaxValue (9999-12-31). No device
# was enrolled in an MDM before 1990.
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_LATEST_YEAR = 9999

# R-I8: "in GB" — decimal gigabytes (10^9 bytes), the unit printed on the box and the one the Jamf
# connector uses (MB / 1000), so one ledger field has one unit whatever the MDM.
BYTES_PER_GB = 10**9


class MalformedDevice(ValueError):
    """A payload that cannot be translated: the message names the device id and the field."""

    def __init__(self, device_id: str | None, field: str, problem: str) -> None:
        self.device_id, self.field = device_id, field
        super().__init__(f"managedDevice {device_id or '<no id>'}: field '{field}' {problem}")


class Translation(NamedTuple):
    device: ObservedDevice
    warnings: tuple[str, ...]


def is_placeholder_serial(value: str) -> bool:
    squashed = _WHITESPACE.sub("", value).casefold()
    if squashed in PLACEHOLDER_SERIALS:
        return True
    core = _SEPARATORS.sub("", squashed)
    return len(set(core)) <= 1  # empty, or one character repeated ("0", "00000000", "XXXX", "----")


def normalize_serial(value: str | None) -> str | None:
    """R-I1: trimmed serial, or None for empty and placeholder values (never stored, never matched)."""
    if value is None:
        return None
    value = value.strip()
    return None if is_placeholder_serial(value) else value


def format_os(operating_system: str | None, version: str | None) -> str | None:
    """R-I2: "<OS> (<version>)", "<OS>" without a version, None without an OS name.

    A version alone ("10.0.19045") names no OS, and `os` is MDM-first: writing it would replace a
    correct ledger value with a meaningless one, so it becomes None (with a warning from the caller).
    """
    name, ver = (operating_system or "").strip(), (version or "").strip()
    if not name:
        return None
    return f"{name} ({ver})" if ver else name


def disk_capacity_gb(total_bytes: int | None) -> float | None:
    """R-I8: GB rounded to 2 decimals. 0 means "unknown" (R-I8); so do negatives and sizes that round
    to 0.00 GB (the Graph docs' example says 8 bytes) — no managed device has a disk that small."""
    if not total_bytes or total_bytes <= 0:
        return None
    return round(total_bytes / BYTES_PER_GB, 2) or None


def translate_device(raw: Mapping[str, Any]) -> Translation:
    """One Graph managedDevice -> the normalised ObservedDevice plus any warnings."""
    if not isinstance(raw, Mapping):
        raise MalformedDevice(None, "<root>", f"must be a JSON object, got {type(raw).__name__}")
    dev_id = raw.get("id")
    if not isinstance(dev_id, str) or not dev_id.strip():
        raise MalformedDevice(None, "id", "is missing or not a non-empty string")
    dev_id = dev_id.strip()
    warnings: list[str] = []

    def text(field: str) -> str | None:
        return _text(raw, field, dev_id)

    operating_system, os_version = text("operatingSystem"), text("osVersion")
    if os_version and not operating_system:
        warnings.append(f"managedDevice {dev_id}: osVersion without operatingSystem; os left empty")
    registration = text("deviceRegistrationState")
    if registration is not None and registration not in REGISTRATION_STATES:
        warnings.append(
            f"managedDevice {dev_id}: unknown deviceRegistrationState {registration!r} -> 'unknown'"
        )
        registration = "unknown"
    email, upn = text("emailAddress"), text("userPrincipalName")
    user = email or upn  # R-I6: e-mail, else UPN
    name = text("deviceName")

    mdm: dict[str, Any] = {
        "device_name": name,
        "mdm_device_id": dev_id,
        "enrolled_at": _timestamp(raw, "enrolledDateTime", dev_id),
        "last_check_in_at": _timestamp(raw, "lastSyncDateTime", dev_id),
        "primary_user_email": user,
        "disk_capacity_gb": disk_capacity_gb(_int64(raw, "totalStorageSpaceInBytes", dev_id)),
        "registration_status": registration,
    }
    fields: dict[str, Any] = {
        "mdm_device_id": dev_id,
        "serial_number": normalize_serial(text("serialNumber")),
        "uuid": dev_id,  # R-I5 / R-M1: the Intune device id is the "MDM UUID"
        "device_name": name,
        "asset_tag": None,  # Intune has no asset tag
        "os": format_os(operating_system, os_version),
        "manufacturer": _hardware(text("manufacturer")),
        "model": _hardware(text("model")),
        "assigned_user": user,
        "mdm": mdm,
    }
    try:
        # One validation of the nested dict: cheaper than two model constructors, same checks.
        device = ObservedDevice.model_validate(fields)
    except ValidationError as exc:  # a value the contract refuses
        err = exc.errors()[0]
        raise MalformedDevice(dev_id, ".".join(map(str, err["loc"])), err["msg"]) from None
    return Translation(device, tuple(warnings))


def _text(raw: Mapping[str, Any], field: str, dev_id: str) -> str | None:
    """A string property: trimmed, "" -> None, null -> None, any other type -> MalformedDevice."""
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedDevice(dev_id, field, f"must be a string, got {type(value).__name__}")
    return value.strip() or None


def _hardware(value: str | None) -> str | None:
    if value is None or _WHITESPACE.sub("", value).casefold() in PLACEHOLDER_HARDWARE:
        return None
    return value


def _timestamp(raw: Mapping[str, Any], field: str, dev_id: str) -> datetime | None:
    value = raw.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise MalformedDevice(dev_id, field, f"must be an ISO 8601 string, got {type(value).__name__}")
    try:
        # Python 3.11 parses "Z", offsets and Graph's 7 fractional digits (truncated to microseconds).
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MalformedDevice(dev_id, field, f"is not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.year >= _LATEST_YEAR or parsed.year < _EARLIEST.year:
        return None  # checked before any timezone arithmetic: 0001-01-01+01:00 would overflow
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # DateTimeOffset is always zoned on Graph; assume UTC if not
    return parsed.astimezone(UTC)


def _int64(raw: Mapping[str, Any], field: str, dev_id: str) -> int | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedDevice(dev_id, field, f"must be an integer, got {type(value).__name__}")
    if isinstance(value, str):  # OData sends Int64 as a string under IEEE754Compatible=true
        if not re.fullmatch(r"-?\d+", value.strip()):
            raise MalformedDevice(dev_id, field, f"must be an integer, got {value[:40]!r}")
        return int(value)
    return value
