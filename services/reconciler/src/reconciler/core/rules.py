"""Field precedence (R-I1–R-I6, R-J1): which MDM value is written into which ledger field, and when.

ledger-first: the MDM value is written only while the ledger field is empty.
MDM-first:    the MDM value always overwrites — an MDM that reports no user unassigns the device,
              because the MDM is the master of that field.
R-I7: a sync touches nothing but the fields in PRECEDENCE (and the MDM-only block).
"""

from __future__ import annotations

from typing import Literal

from ledger_contracts import AssetNumberSource, ObservedDevice

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


def mdm_values(obs: ObservedDevice, source: AssetNumberSource) -> dict[str, str | None]:
    """The value the MDM proposes for each synced ledger field."""
    return {
        "serial_number": clean_serial(obs.serial_number),
        "os": obs.os or None,
        "manufacturer": obs.manufacturer or None,
        "model": obs.model or None,
        "asset_number": proposed_asset_number(obs, source),
        "assigned_user": obs.assigned_user or None,
    }


def resolve_field(precedence: Precedence, ledger_value: str | None, mdm_value: str | None) -> str | None:
    """The value the ledger field takes after the sync."""
    if precedence == "mdm_first":
        return mdm_value
    return ledger_value if ledger_value not in (None, "") else mdm_value
