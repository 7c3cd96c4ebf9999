"""Tolerant models of the Jamf Pro payloads we read (as macadmins/jamf-pro-sdk-python does).

Every field is optional and unknown keys are kept (`extra="allow"`): Jamf adds fields in most
releases, its docs examples hold nonsense values, and a new key must never break a pull. Only the
fields the translation reads are declared; names are Jamf's own (camelCase) so a reader can grep
the API docs for them. Timestamps stay strings here: `translate` parses them so that a bad one is
reported with the field's name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Vendor(BaseModel):
    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


# --- computers: GET /api/v{1..4}/computers-inventory ----------------------------------------------


class RemoteManagement(Vendor):
    managed: bool | None = None


class ComputerGeneral(Vendor):
    name: str | None = None
    assetTag: str | None = None
    udid: str | None = None  # not in the documented shape (it is top level), tolerated
    lastContactTime: str | None = None
    lastEnrolledDate: str | None = None
    reportDate: str | None = None
    remoteManagement: RemoteManagement | None = None
    supervised: bool | None = None


class ComputerHardware(Vendor):
    make: str | None = None
    model: str | None = None
    modelIdentifier: str | None = None
    serialNumber: str | None = None


class ComputerOperatingSystem(Vendor):
    name: str | None = None
    version: str | None = None
    build: str | None = None


class ComputerUserAndLocation(Vendor):
    username: str | None = None
    realname: str | None = None
    email: str | None = None


class Partition(Vendor):
    name: str | None = None
    sizeMegabytes: int | None = None
    partitionType: str | None = None  # BOOT | RECOVERY | OTHER


class Disk(Vendor):
    id: str | None = None
    device: str | None = None
    sizeMegabytes: int | None = None
    partitions: list[Partition] | None = None


class ComputerStorage(Vendor):
    bootDriveAvailableSpaceMegabytes: int | None = None
    disks: list[Disk] | None = None


class Computer(Vendor):
    id: str | None = None
    udid: str | None = None
    general: ComputerGeneral | None = None
    hardware: ComputerHardware | None = None
    operatingSystem: ComputerOperatingSystem | None = None
    userAndLocation: ComputerUserAndLocation | None = None
    storage: ComputerStorage | None = None


# --- mobile devices: GET /api/v2/mobile-devices/detail --------------------------------------------


class MobileGeneral(Vendor):
    udid: str | None = None
    displayName: str | None = None
    name: str | None = None  # the flat list / by-id shapes say `name`
    assetTag: str | None = None
    osVersion: str | None = None
    lastInventoryUpdateDate: str | None = None
    lastContactDate: str | None = None  # seen in third-party fixtures only; preferred when present
    lastEnrolledDate: str | None = None
    managed: bool | None = None
    supervised: bool | None = None


class MobileHardware(Vendor):
    serialNumber: str | None = None
    model: str | None = None
    modelIdentifier: str | None = None
    capacityMb: int | None = None


class MobileUserAndLocation(Vendor):
    username: str | None = None
    realName: str | None = None
    emailAddress: str | None = None


class MobileDevice(Vendor):
    mobileDeviceId: str | None = None
    id: str | None = None  # the by-id detail shape
    deviceType: str | None = None  # "iOS" for iPhone and iPad alike; "tvOS" for Apple TV
    general: MobileGeneral | None = None
    hardware: MobileHardware | None = None
    userAndLocation: MobileUserAndLocation | None = None
    location: MobileUserAndLocation | None = None  # the by-id detail shape names the section so


class Page(Vendor):
    """`{totalCount, results}`: the envelope of both inventory endpoints. Results stay raw dicts:
    each is validated on its own so one malformed record does not sink its page."""

    totalCount: int | None = None
    results: list[Any] | None = None
