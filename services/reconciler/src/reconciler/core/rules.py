"""Field precedence (R-I1–R-I6, R-J1): which MDM value is written into which ledger field, and when.

ledger-first: the MDM value is written only while the ledger field is empty.
MDM-first:    the MDM value always overwrites — an MDM that reports no user unassigns the device,
              because the MDM is the master of that field.
R-I7: a sync touches nothing but the fields in PRECEDENCE (and the MDM-only block).
"""

from __future__ import annotations

from typing import Literal

from ledger_contracts import AssetNumberSource, MdmMatchKey, ObservedDevice

from .keys import clean_serial

Precedence = Literal["ledger_first", "mdm_first"]

PRECEDENCE: dict[str, Precedence] = {
    "serial_number": "ledger_first",  # R-I1
    "os": "mdm_first",  # R-I2
    "manufacturer": "ledger_first",  # R-I3
    "model": "ledger_first",  # R-I4
    "asset_number": "ledger_first",  # R-I5
    "assigned_user": "mdm_first",  # R-I6
}


def proposed_asset_number(obs: ObservedDevice, source: AssetNumberSource) -> str | None:
    """R-I5 / SPEC §3: the Jamf asset tag first, else the MDM UUID or the device name per link."""
    if obs.asset_tag and obs.asset_tag.strip():
        return obs.asset_tag.strip()
    value = obs.uuid if source == "uuid" else obs.device_name
    return value.strip() if value and value.strip() else None


# R-I2: an MDM-first field the MDM may fail to name. A version without an OS name ("(10.0.1)", or
# the connector's None after its warning) says nothing about the OS: the ledger's value stays.
KEEP_WHEN_UNREPORTED = frozenset({"os"})


def os_value(os: str | None) -> str | None:
    """R-I2: "<OS> (<version>)" or "<OS>"; a version alone names no OS and is None."""
    value = (os or "").strip()
    if not value or value.startswith("("):
        return None
    return value


def mdm_key_value(key: MdmMatchKey, obs: ObservedDevice) -> str | None:
    """R-M1 / R-M15: the MDM side of the matching key (serial number, MDM UUID or device name)."""
    if key == "serial_number":
        return obs.serial_number
    if key == "uuid":
        return obs.uuid
    return obs.device_name


def mdm_values(obs: ObservedDevice, source: AssetNumberSource) -> dict[str, str | None]:
    """The value the MDM proposes for each synced ledger field."""
    return {
        "serial_number": clean_serial(obs.serial_number),
        "os": os_value(obs.os),
        "manufacturer": obs.manufacturer or None,
        "model": obs.model or None,
        "asset_number": proposed_asset_number(obs, source),
        "assigned_user": obs.assigned_user or None,
    }


def resolve_field(
    precedence: Precedence,
    ledger_value: str | None,
    mdm_value: str | None,
    *,
    keep_when_unreported: bool = False,
) -> str | None:
    """The value the ledger field takes after the sync. `keep_when_unreported` (R-I2, the OS): an
    MDM-first field the MDM did not report keeps the ledger's value instead of being erased."""
    if keep_when_unreported and mdm_value is None:
        return ledger_value
    if precedence == "mdm_first":
        return mdm_value
    return ledger_value if ledger_value not in (None, "") else mdm_value
