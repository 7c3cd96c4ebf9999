"""The device vocabulary of SPEC §1–§3: ledger fields, MDM-only fields, settings of a master link."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from .base import Contract, UtcDatetime

MdmKind = Literal["intune", "jamf_pro"]
Source = Literal["manual", "intune", "jamf_pro"]

# R-M1: which MDM value is compared with which ledger field.
# R-M15: the MDM's device name may be compared too (trimmed, case-insensitive; shared names are R-M9).
MdmMatchKey = Literal["serial_number", "uuid", "device_name"]
LedgerMatchKey = Literal["serial_number", "asset_number"]
# R-I5 (and SPEC §3 for Jamf, after the asset tag).
AssetNumberSource = Literal["uuid", "device_name"]

RegistrationStatus = Literal[
    "notRegistered",
    "registered",
    "revoked",
    "keyConflict",
    "approvalPending",
    "certificateReset",
    "notRegisteredPendingEnrollment",
    "unknown",
]

# Ledger fields the sync may write (R-I1..R-I6). R-I7: nothing else is touched by a sync.
SYNCED_FIELDS: tuple[str, ...] = (
    "serial_number",
    "os",
    "manufacturer",
    "model",
    "asset_number",
    "assigned_user",
)
# Ledger fields a person may edit (manual / CSV).
EDITABLE_FIELDS: tuple[str, ...] = (*SYNCED_FIELDS, "status", "notes")


class MatchingKey(Contract):
    """R-M1: one MDM key compared with one ledger key, chosen per master link."""

    mdm: MdmMatchKey = "serial_number"
    ledger: LedgerMatchKey = "serial_number"


class MasterLinkSettings(Contract):
    """What a sync run needs to know about the master link it runs for."""

    master_link_id: str = Field(min_length=1)
    integration_id: str = Field(min_length=1)
    mdm_kind: MdmKind
    matching_key: MatchingKey = MatchingKey()
    asset_number_source: AssetNumberSource = "uuid"
    # R-M12: the master link's generation, from a counter per (tenant, integration) that the API
    # raises when a link is created, its matching settings change, or it is unlinked. Everything
    # done for the link carries it, so the reconciler applies link work in the order the API
    # accepted it and refuses superseded work. 0 = sent by a producer that predates R-M12.
    generation: int = Field(0, ge=0)


class MdmOnlyFields(Contract):
    """R-I8 / SPEC §3: fields that exist only on MDM-bound devices; always the latest MDM value."""

    device_name: str | None = None
    mdm_device_id: str | None = None
    enrolled_at: UtcDatetime | None = None
    last_check_in_at: UtcDatetime | None = None
    primary_user_email: str | None = None
    disk_capacity_gb: float | None = None
    # Intune
    registration_status: RegistrationStatus | None = None
    # Jamf Pro
    jamf_id: str | None = None
    udid: str | None = None
    username: str | None = None
    management_status: str | None = None


class ObservedDevice(Contract):
    """One MDM device as a connector saw it, already normalised (empty/placeholder values are None).

    `mdm_device_id` is unique within one integration: the Intune device id, or for Jamf Pro
    `"computer:<id>"` / `"mobile:<id>"` (computer and mobile ids overlap).
    """

    mdm_device_id: str = Field(min_length=1)
    serial_number: str | None = None
    uuid: str | None = None  # Intune `id`, Jamf UDID: the "MDM UUID" of R-M1 / R-I5
    device_name: str | None = None
    asset_tag: str | None = None  # Jamf asset tag (takes precedence for the asset number, SPEC §3)
    os: str | None = None  # "<OS> (<version>)" (R-I2)
    manufacturer: str | None = None
    model: str | None = None
    assigned_user: str | None = None  # e-mail, else UPN / username (R-I6)
    mdm: MdmOnlyFields = MdmOnlyFields()


class Binding(Contract):
    """R-M4: the permanent link between a ledger device and one MDM device."""

    integration_id: str
    mdm_kind: MdmKind
    mdm_device_id: str


class BoundMdm(Contract):
    """R-P2: one more MDM device bound to a ledger device (one per integration), beside the primary
    `LedgerDevice.binding`. `reported` holds the synced-field values that MDM last reported (R-P3:
    fields are re-derived from every bound MDM when one reports or a priority changes)."""

    binding: Binding
    mdm: MdmOnlyFields | None = None
    missing_from_mdm: bool = False
    last_seen_at: UtcDatetime | None = None
    reported: dict[str, str | None] = Field(default_factory=dict)


class LedgerDevice(Contract):
    """A ledger record as of `version` (the state after a change).

    R-P1–R-P4: `binding`/`mdm` are the PRIMARY binding (the highest-priority bound MDM) and its
    MDM-only fields; `other_bindings` the other MDMs bound to the device; `field_origins` names, per
    synced field, the integration whose value it holds; `reported` the primary's last reported
    synced values and `primary_missing_from_mdm` its own state. These are filled only while more than
    one MDM is bound.
    `missing_from_mdm` is true only when every bound MDM stopped reporting the device (R-P4).
    """

    device_id: uuid.UUID
    tenant_id: str
    version: int = Field(ge=1)
    source: Source
    asset_number: str | None = None
    serial_number: str | None = None
    os: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    assigned_user: str | None = None
    status: str | None = None
    notes: str | None = None
    custom_fields: dict[str, str | None] = Field(default_factory=dict)
    binding: Binding | None = None
    mdm: MdmOnlyFields | None = None
    missing_from_mdm: bool = False
    last_seen_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    other_bindings: tuple[BoundMdm, ...] = ()
    field_origins: dict[str, str] = Field(default_factory=dict)
    reported: dict[str, str | None] = Field(default_factory=dict)
    primary_missing_from_mdm: bool = False
