"""Graph `managedDevice` -> `ObservedDevice` (SPEC §2, R-I1..R-I8). Pure: no I/O, no clock, no logging.

R-M14: a payload that is not an object or has no usable `id` raises `MalformedDevice`, which the
run skips and counts. Any other malformed value (a wrong type, a timestamp that does not parse, a
5 MB string, a version without an OS name) is left empty and *returned* as a `RecordIssue`
warning naming the device and Graph's field; the device is kept. Placeholder serials and
hardware names: the one list in `ledger_contracts.placeholders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, get_args

from pydantic import ValidationError

from connector_kit.fields import RecordIssues
from ledger_contracts import ObservedDevice, RecordIssue, RegistrationStatus, placeholders

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

REGISTRATION_STATES: frozenset[str] = frozenset(get_args(RegistrationStatus))

# R-I8: "in GB" — decimal gigabytes (10^9 bytes), the unit printed on the box and the one the Jamf
# connector uses (MB / 1000), so one ledger field has one unit whatever the MDM.
BYTES_PER_GB = 10**9


MAX_ID_CHARS = 200  # Intune ids are GUIDs (36); anything much longer is no id


class MalformedDevice(ValueError):
    """A payload without a usable id: the message names the field (the run skips and counts it)."""

    def __init__(self, device_id: str | None, field: str, problem: str) -> None:
        self.device_id, self.field, self.problem = device_id, field, problem
        super().__init__(f"managedDevice {device_id or '<no id>'}: field '{field}' {problem}")


class Translation(NamedTuple):
    device: ObservedDevice
    warnings: tuple[RecordIssue, ...]


def is_placeholder_serial(value: str) -> bool:
    return placeholders.is_placeholder_serial(value)


def normalize_serial(value: str | None) -> str | None:
    """R-I1: trimmed serial, or None for empty and placeholder values (never stored, never matched)."""
    return placeholders.clean_serial(value)


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


def translate_device(raw: Any) -> Translation:
    """One Graph managedDevice -> the normalised ObservedDevice plus its field warnings."""
    if not isinstance(raw, Mapping):
        raise MalformedDevice(None, "<root>", f"must be a JSON object, got {type(raw).__name__}")
    dev_id = raw.get("id")
    if not isinstance(dev_id, str) or not dev_id.strip() or len(dev_id) > MAX_ID_CHARS:
        raise MalformedDevice(None, "id", "is missing or not a usable id string")
    dev_id = dev_id.strip()
    f = RecordIssues(dev_id)

    def text(field: str) -> str | None:
        return f.text(field, raw.get(field))

    operating_system, os_version = text("operatingSystem"), text("osVersion")
    if os_version and not operating_system:
        f.warn("operatingSystem", "missing while osVersion is set; os left empty")
    registration = text("deviceRegistrationState")
    if registration is not None and registration not in REGISTRATION_STATES:
        # Graph's enums evolve (`unknownFutureValue`, new states): a value we do not know yet is not
        # malformed, so no warning; the contract's "unknown" says it.
        registration = "unknown"
    email, upn = text("emailAddress"), text("userPrincipalName")
    user = email or upn  # R-I6: e-mail, else UPN
    name = text("deviceName")

    mdm: dict[str, Any] = {
        "device_name": name,
        "mdm_device_id": dev_id,
        "enrolled_at": f.timestamp("enrolledDateTime", raw.get("enrolledDateTime")),
        "last_check_in_at": f.timestamp("lastSyncDateTime", raw.get("lastSyncDateTime")),
        "primary_user_email": user,
        "disk_capacity_gb": disk_capacity_gb(
            f.integer("totalStorageSpaceInBytes", raw.get("totalStorageSpaceInBytes"))
        ),
        "registration_status": registration,
    }
    fields: dict[str, Any] = {
        "mdm_device_id": dev_id,
        "serial_number": normalize_serial(text("serialNumber")),
        "uuid": dev_id,  # R-I5 / R-M1: the Intune device id is the "MDM UUID"
        "device_name": name,
        "asset_tag": None,  # Intune has no asset tag
        "os": format_os(operating_system, os_version),
        "manufacturer": placeholders.clean_hardware(text("manufacturer")),
        "model": placeholders.clean_hardware(text("model")),
        "assigned_user": user,
        "mdm": mdm,
    }
    try:
        # One validation of the nested dict: cheaper than two model constructors, same checks.
        device = ObservedDevice.model_validate(fields)
    except ValidationError as exc:  # a value the contract refuses: cannot happen for read fields
        err = exc.errors()[0]
        raise MalformedDevice(dev_id, ".".join(map(str, err["loc"])), err["msg"]) from None
    return Translation(device, tuple(f.items))
