"""Jamf Pro record -> `ObservedDevice` (SPEC §3, R-J1/R-J2): a pure function, no I/O.

Decisions a reader needs (each one is table-tested in tests/test_translate.py):

* `mdm_device_id` is `"computer:<id>"` / `"mobile:<id>"`: computer and mobile ids come from
  separate tables and overlap (computer 7 and mobile 7 are two devices).
* Serial numbers: trimmed; blank, "Not Available" (DEP devices before their first check-in,
  personally owned mobiles), the usual firmware placeholders and one character repeated ("0000")
  are None — compared case-insensitively with spaces removed, so they never reach matching (R-M5).
* OS: `"<OS> (<version>)"`, just `"<OS>"` without a version. Computers: `operatingSystem.name`
  ("Mac OS X" / "OS X" are written "macOS"). Mobiles: Jamf says `deviceType: "iOS"` for iPhones
  *and* iPads, so the family comes from `hardware.modelIdentifier` (iPad* -> iPadOS from 13 on,
  when Apple split it off; AppleTV* -> tvOS; iPhone*/iPod* -> iOS), then from the model name,
  then from `deviceType`.
* Model: `hardware.model`, else `hardware.modelIdentifier` (better than nothing for a ledger-first
  field). Manufacturer: always "Apple".
* Assigned user: the e-mail, else the username. `primary_user_email` holds the e-mail only and
  `username` the username, since Jamf has both as MDM-only fields.
* Last check-in: computers `general.lastContactTime` (the UI's "Last Check-in"). Mobiles have no
  documented check-in field in the detail list: `general.lastContactDate` when a server sends it,
  else `general.lastInventoryUpdateDate` (the device answered an inventory query then).
* Disk capacity in GB = MB / 1000 (Jamf reports decimal megabytes, as macOS does), 2 decimals.
  Computers: the disk holding the partition of type BOOT (its `sizeMegabytes`, else that
  partition's); a single disk is the boot disk even when no partition says so. Mobiles:
  `hardware.capacityMb`. Zero or negative is None.
* Management status: "managed" / "unmanaged", with ", supervised" appended when supervised.
* A record whose id is missing, whose sections have the wrong JSON type, or whose timestamp does
  not parse raises `MalformedDevice` naming the record and the field; the caller skips it.
  Timestamps without a zone are taken as UTC (Jamf always sends `Z`); years before 1990 or 9999
  are "no value" sentinels (None).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from ledger_contracts import MdmOnlyFields, ObservedDevice

from .models import Computer, ComputerStorage, MobileDevice

Kind = Literal["computer", "mobile"]
MANUFACTURER = "Apple"

# The same list as the Intune connector (one idea, two MDMs; the contracts are the only shared code):
# compared case-insensitively with whitespace removed. "Not Available" is Jamf's own word for a DEP
# device before its first check-in and for personally owned mobiles.
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
# Timestamps outside this window are "no value" sentinels, not dates (1970-01-01 appears in Jamf's
# own examples; 9999-12-31 is a common "never"). No device was enrolled in an MDM before 1990.
_EARLIEST_YEAR, _LATEST_YEAR = 1990, 9999


class MalformedDevice(ValueError):
    """One record the connector cannot read; it is skipped and counted, the pull goes on."""

    def __init__(self, kind: Kind, record_id: str | None, field: str, reason: str) -> None:
        self.kind = kind
        self.record_id = record_id
        self.field = field
        self.reason = reason
        super().__init__(f"malformed Jamf {kind} record {record_id or '<no id>'}: {field}: {reason}")


def translate(kind: Kind, raw: Any) -> ObservedDevice:
    return translate_computer(raw) if kind == "computer" else translate_mobile(raw)


def translate_computer(raw: Any) -> ObservedDevice:
    rec = _validate("computer", Computer, raw)
    jamf_id = _require_id("computer", rec.id)
    general, hw = rec.general, rec.hardware
    user = rec.userAndLocation
    email = _text(user.email) if user else None
    username = _text(user.username) if user else None
    name = _text(general.name) if general else None
    udid = _text(rec.udid) or (_text(general.udid) if general else None)
    os_raw = _text(rec.operatingSystem.name) if rec.operatingSystem else None
    os_version = _text(rec.operatingSystem.version) if rec.operatingSystem else None
    ts = _Timestamps("computer", jamf_id)
    return _observed(
        "computer",
        jamf_id,
        serial=clean_serial(hw.serialNumber if hw else None),
        udid=udid,
        name=name,
        asset_tag=_text(general.assetTag) if general else None,
        os=os_string(_computer_os_name(os_raw), os_version) if (os_raw or os_version) else None,
        model=(_text(hw.model) or _text(hw.modelIdentifier)) if hw else None,
        email=email,
        username=username,
        enrolled_at=ts.parse("general.lastEnrolledDate", general.lastEnrolledDate if general else None),
        checked_in_at=ts.parse("general.lastContactTime", general.lastContactTime if general else None),
        disk_gb=boot_disk_gb(rec.storage),
        status=management_status(
            general.remoteManagement.managed if general and general.remoteManagement else None,
            general.supervised if general else None,
        ),
    )


def translate_mobile(raw: Any) -> ObservedDevice:
    rec = _validate("mobile", MobileDevice, raw)
    jamf_id = _require_id("mobile", rec.mobileDeviceId or rec.id)
    general, hw = rec.general, rec.hardware
    user = rec.userAndLocation or rec.location
    version = _text(general.osVersion) if general else None
    family = mobile_os_family(
        rec.deviceType, hw.modelIdentifier if hw else None, hw.model if hw else None, version
    )
    ts = _Timestamps("mobile", jamf_id)
    if general and _text(general.lastContactDate):
        checked_in = ts.parse("general.lastContactDate", general.lastContactDate)
    else:
        checked_in = ts.parse(
            "general.lastInventoryUpdateDate", general.lastInventoryUpdateDate if general else None
        )
    capacity = hw.capacityMb if hw else None
    return _observed(
        "mobile",
        jamf_id,
        serial=clean_serial(hw.serialNumber if hw else None),
        udid=_text(general.udid) if general else None,
        name=(_text(general.displayName) or _text(general.name)) if general else None,
        asset_tag=_text(general.assetTag) if general else None,
        os=os_string(family, version),
        model=(_text(hw.model) or _text(hw.modelIdentifier)) if hw else None,
        email=_text(user.emailAddress) if user else None,
        username=_text(user.username) if user else None,
        enrolled_at=ts.parse("general.lastEnrolledDate", general.lastEnrolledDate if general else None),
        checked_in_at=checked_in,
        disk_gb=_gb(capacity),
        status=management_status(
            general.managed if general else None, general.supervised if general else None
        ),
    )


def _observed(
    kind: Kind,
    jamf_id: str,
    *,
    serial: str | None,
    udid: str | None,
    name: str | None,
    asset_tag: str | None,
    os: str | None,
    model: str | None,
    email: str | None,
    username: str | None,
    enrolled_at: datetime | None,
    checked_in_at: datetime | None,
    disk_gb: float | None,
    status: str | None,
) -> ObservedDevice:
    mdm_device_id = f"{kind}:{jamf_id}"
    return ObservedDevice(
        mdm_device_id=mdm_device_id,
        serial_number=serial,
        uuid=udid,
        device_name=name,
        asset_tag=asset_tag,
        os=os,
        manufacturer=MANUFACTURER,
        model=model,
        assigned_user=email or username,
        mdm=MdmOnlyFields(
            device_name=name,
            mdm_device_id=mdm_device_id,
            jamf_id=jamf_id,
            udid=udid,
            enrolled_at=enrolled_at,
            last_check_in_at=checked_in_at,
            primary_user_email=email,
            username=username,
            disk_capacity_gb=disk_gb,
            management_status=status,
        ),
    )


# --- field rules -------------------------------------------------------------------------------


def clean_serial(value: str | None) -> str | None:
    text = _text(value)
    return None if text is None or is_placeholder_serial(text) else text


def is_placeholder_serial(value: str) -> bool:
    squashed = _WHITESPACE.sub("", value).casefold()
    if squashed in PLACEHOLDER_SERIALS:
        return True
    core = _SEPARATORS.sub("", squashed)
    return len(set(core)) <= 1  # empty, or one character repeated ("0", "00000000", "XXXX", "----")


def os_string(name: str | None, version: str | None) -> str | None:
    if not name:
        return None
    return f"{name} ({version})" if version else name


def _computer_os_name(name: str | None) -> str:
    if name is None or _WHITESPACE.sub("", name).casefold() in {"macosx", "osx", "macos"}:
        return "macOS"  # every Jamf computer is a Mac; the old names only say which era
    return name


def mobile_os_family(
    device_type: str | None, model_identifier: str | None, model: str | None, version: str | None
) -> str | None:
    ident = (_text(model_identifier) or "").lower()
    model_name = (_text(model) or "").lower()
    family = None
    for prefixes, name in (
        (("ipad",), "iPadOS"),
        (("iphone", "ipod"), "iOS"),
        (("appletv",), "tvOS"),
        (("watch",), "watchOS"),
        (("realitydevice",), "visionOS"),
    ):
        if ident.startswith(prefixes):
            family = name
            break
    if family is None:
        for needle, name in (("ipad", "iPadOS"), ("iphone", "iOS"), ("ipod", "iOS"), ("apple tv", "tvOS")):
            if needle in model_name:
                family = name
                break
    if family is None:
        family = {
            "ios": "iOS",
            "ipados": "iPadOS",
            "tvos": "tvOS",
            "appletv": "tvOS",
            "watchos": "watchOS",
        }.get((_text(device_type) or "").lower().replace(" ", ""))
    if family is None and (version or _text(device_type)):
        family = "iOS"  # Jamf's mobile inventory is the iOS family; a version with no hints is iOS
    major = _major(version)
    if family == "iPadOS" and major is not None and major < 13:
        family = "iOS"  # iPads ran "iOS" until iPadOS 13
    return family


def _major(version: str | None) -> int | None:
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def boot_disk_gb(storage: ComputerStorage | None) -> float | None:
    disks = (storage.disks or []) if storage else []
    for disk in disks:
        for part in disk.partitions or []:
            if (part.partitionType or "").upper() == "BOOT":
                return _gb(disk.sizeMegabytes) or _gb(part.sizeMegabytes)
    if len(disks) == 1:
        return _gb(disks[0].sizeMegabytes)
    return None  # several disks and none marked BOOT: do not guess


def _gb(megabytes: int | None) -> float | None:
    if megabytes is None or megabytes <= 0:
        return None
    return round(megabytes / 1000, 2)


def management_status(managed: bool | None, supervised: bool | None) -> str | None:
    if managed is None and supervised is None:
        return None
    status = "managed" if managed else "unmanaged"
    return f"{status}, supervised" if supervised else status


# --- plumbing ----------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _validate(kind: Kind, model: type[Any], raw: Any) -> Any:
    if not isinstance(raw, Mapping):
        raise MalformedDevice(kind, None, "<record>", f"expected a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "<record>"
        raw_id = raw.get("id") if kind == "computer" else raw.get("mobileDeviceId", raw.get("id"))
        raise MalformedDevice(kind, _text(raw_id), field, err["msg"]) from None


def _require_id(kind: Kind, value: str | None) -> str:
    jamf_id = _text(value)
    if jamf_id is None:
        raise MalformedDevice(kind, None, "id" if kind == "computer" else "mobileDeviceId", "missing")
    return jamf_id


class _Timestamps:
    """Parses one record's timestamps, naming the record and field when one is not a date."""

    def __init__(self, kind: Kind, jamf_id: str) -> None:
        self.kind, self.jamf_id = kind, jamf_id

    def parse(self, field: str, value: str | None) -> datetime | None:
        text = _text(value)
        if text is None:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise MalformedDevice(
                self.kind, self.jamf_id, field, f"not an ISO-8601 timestamp: {text!r}"
            ) from None
        if not _EARLIEST_YEAR <= parsed.year < _LATEST_YEAR:
            return None  # a sentinel; checked before any zone arithmetic, which could overflow
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
