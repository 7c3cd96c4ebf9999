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
* R-M14: a record whose id is missing or unusable raises `MalformedDevice` (the run skips and
  counts it). Any other malformed value — a section of the wrong JSON type, a timestamp that does
  not parse, a number where text belongs, a 5 MB string — is left empty and reported as a
  `RecordIssue` warning naming the device and Jamf's field; the device is kept.
  Timestamps without a zone are taken as UTC (Jamf always sends `Z`); years before 1990 or 9999
  are "no value" sentinels (None).
* Placeholder serials and hardware names: the one list in `ledger_contracts.placeholders`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

from connector_kit.fields import RecordIssues
from ledger_contracts import MdmOnlyFields, ObservedDevice, RecordIssue
from ledger_contracts.placeholders import clean_hardware
from ledger_contracts.placeholders import clean_serial as _clean_serial

Kind = Literal["computer", "mobile"]
MANUFACTURER = "Apple"
MAX_ID_CHARS = 64  # Jamf ids are integers in strings; anything longer is no id


class MalformedDevice(ValueError):
    """A record without a usable id: the run skips it and counts it (R-M14)."""

    def __init__(self, kind: Kind, record_id: str | None, field: str, reason: str) -> None:
        self.kind = kind
        self.record_id = record_id
        self.field = field
        self.reason = reason
        super().__init__(f"malformed Jamf {kind} record {record_id or '<no id>'}: {field}: {reason}")


class Translation(NamedTuple):
    device: ObservedDevice
    warnings: tuple[RecordIssue, ...]


def translate(kind: Kind, raw: Any) -> Translation:
    return translate_computer(raw) if kind == "computer" else translate_mobile(raw)


def translate_computer(raw: Any) -> Translation:
    rec = _record("computer", raw)
    jamf_id = _require_id("computer", rec, ("id",))
    f = RecordIssues(f"computer:{jamf_id}")
    general = f.section("general", rec.get("general"))
    hw = f.section("hardware", rec.get("hardware"))
    user = f.section("userAndLocation", rec.get("userAndLocation"))
    os_section = f.section("operatingSystem", rec.get("operatingSystem"))
    remote = f.section("general.remoteManagement", general.get("remoteManagement"))
    udid = f.text("udid", rec.get("udid")) or f.text("general.udid", general.get("udid"))
    os_raw = f.text("operatingSystem.name", os_section.get("name"))
    os_version = f.text("operatingSystem.version", os_section.get("version"), coerce_numbers=True)
    device = _observed(
        "computer",
        jamf_id,
        serial=clean_serial(f.text("hardware.serialNumber", hw.get("serialNumber"), coerce_numbers=True)),
        udid=udid,
        name=f.text("general.name", general.get("name"), coerce_numbers=True),
        asset_tag=f.text("general.assetTag", general.get("assetTag"), coerce_numbers=True),
        os=os_string(_computer_os_name(os_raw), os_version) if (os_raw or os_version) else None,
        model=_model(f, hw),
        email=f.text("userAndLocation.email", user.get("email")),
        username=f.text("userAndLocation.username", user.get("username"), coerce_numbers=True),
        enrolled_at=f.timestamp("general.lastEnrolledDate", general.get("lastEnrolledDate")),
        checked_in_at=f.timestamp("general.lastContactTime", general.get("lastContactTime")),
        disk_gb=boot_disk_gb(rec.get("storage"), f),
        status=management_status(
            f.boolean("general.remoteManagement.managed", remote.get("managed")),
            f.boolean("general.supervised", general.get("supervised")),
        ),
    )
    return Translation(device, tuple(f.items))


def translate_mobile(raw: Any) -> Translation:
    rec = _record("mobile", raw)
    jamf_id = _require_id("mobile", rec, ("mobileDeviceId", "id"))
    f = RecordIssues(f"mobile:{jamf_id}")
    general = f.section("general", rec.get("general"))
    hw = f.section("hardware", rec.get("hardware"))
    if rec.get("userAndLocation") is not None:
        user = f.section("userAndLocation", rec.get("userAndLocation"))
    else:
        user = f.section("location", rec.get("location"))
    version = f.text("general.osVersion", general.get("osVersion"), coerce_numbers=True)
    family = mobile_os_family(
        f.text("deviceType", rec.get("deviceType")),
        f.text("hardware.modelIdentifier", hw.get("modelIdentifier")),
        f.text("hardware.model", hw.get("model")),
        version,
    )
    if f.text("general.lastContactDate", general.get("lastContactDate")):
        checked_in = f.timestamp("general.lastContactDate", general.get("lastContactDate"))
    else:
        checked_in = f.timestamp("general.lastInventoryUpdateDate", general.get("lastInventoryUpdateDate"))
    display = f.text("general.displayName", general.get("displayName"), coerce_numbers=True)
    device = _observed(
        "mobile",
        jamf_id,
        serial=clean_serial(f.text("hardware.serialNumber", hw.get("serialNumber"), coerce_numbers=True)),
        udid=f.text("general.udid", general.get("udid")),
        name=display or f.text("general.name", general.get("name"), coerce_numbers=True),
        asset_tag=f.text("general.assetTag", general.get("assetTag"), coerce_numbers=True),
        os=os_string(family, version),
        model=_model(f, hw),
        email=f.text(f"{_user_section(rec)}.emailAddress", user.get("emailAddress")),
        username=f.text(f"{_user_section(rec)}.username", user.get("username"), coerce_numbers=True),
        enrolled_at=f.timestamp("general.lastEnrolledDate", general.get("lastEnrolledDate")),
        checked_in_at=checked_in,
        disk_gb=_gb(f.integer("hardware.capacityMb", hw.get("capacityMb"))),
        status=management_status(
            f.boolean("general.managed", general.get("managed")),
            f.boolean("general.supervised", general.get("supervised")),
        ),
    )
    return Translation(device, tuple(f.items))


def _model(f: RecordIssues, hw: Mapping[str, Any]) -> str | None:
    """`hardware.model`, else the model identifier; firmware defaults (the shared list) are no value."""
    return clean_hardware(f.text("hardware.model", hw.get("model"))) or clean_hardware(
        f.text("hardware.modelIdentifier", hw.get("modelIdentifier"))
    )


def _user_section(rec: Mapping[str, Any]) -> str:
    return "userAndLocation" if rec.get("userAndLocation") is not None else "location"


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
    """R-I1: trimmed; blank and placeholders (ledger_contracts.placeholders) are None."""
    return _clean_serial(value)


def os_string(name: str | None, version: str | None) -> str | None:
    if not name:
        return None
    return f"{name} ({version})" if version else name


def _computer_os_name(name: str | None) -> str:
    if name is None or "".join(name.split()).casefold() in {"macosx", "osx", "macos"}:
        return "macOS"  # every Jamf computer is a Mac; the old names only say which era
    return name


def mobile_os_family(
    device_type: str | None, model_identifier: str | None, model: str | None, version: str | None
) -> str | None:
    ident = (model_identifier or "").strip().lower()
    model_name = (model or "").strip().lower()
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
    dtype = (device_type or "").strip()
    if family is None:
        family = {
            "ios": "iOS",
            "ipados": "iPadOS",
            "tvos": "tvOS",
            "appletv": "tvOS",
            "watchos": "watchOS",
        }.get(dtype.lower().replace(" ", ""))
    if family is None and (version or dtype):
        family = "iOS"  # Jamf's mobile inventory is the iOS family; a version with no hints is iOS
    major = _major(version)
    if family == "iPadOS" and major is not None and major < 13:
        family = "iOS"  # iPads ran "iOS" until iPadOS 13
    return family


def _major(version: str | None) -> int | None:
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def boot_disk_gb(storage: Any, f: RecordIssues | None = None) -> float | None:
    """The disk holding the BOOT partition (its size, else the partition's); a single disk is the
    boot disk; several disks and none marked BOOT: no guess."""
    f = f or RecordIssues("")
    section = f.section("storage", storage)
    disks = [d for d in f.items_of("storage.disks", section.get("disks")) if isinstance(d, dict)]
    for i, disk in enumerate(disks):
        for part in f.items_of(f"storage.disks.{i}.partitions", disk.get("partitions")):
            if not isinstance(part, dict):
                continue
            if (
                f.text(f"storage.disks.{i}.partitions.partitionType", part.get("partitionType")) or ""
            ).upper() == "BOOT":
                size = f.integer(f"storage.disks.{i}.sizeMegabytes", disk.get("sizeMegabytes"))
                return _gb(size) or _gb(
                    f.integer(f"storage.disks.{i}.partitions.sizeMegabytes", part.get("sizeMegabytes"))
                )
    if len(disks) == 1:
        return _gb(f.integer("storage.disks.0.sizeMegabytes", disks[0].get("sizeMegabytes")))
    return None


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


def _record(kind: Kind, raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MalformedDevice(kind, None, "<record>", f"expected a JSON object, got {type(raw).__name__}")
    return raw


def _require_id(kind: Kind, rec: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The record's Jamf id: a non-empty string or integer, not too long; else the record is skipped."""
    for field in fields:
        value = rec.get(field)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_CHARS:
            return value.strip()
        if value is not None:
            raise MalformedDevice(kind, None, field, f"not a usable id ({type(value).__name__})")
    raise MalformedDevice(kind, None, fields[0], "missing")
