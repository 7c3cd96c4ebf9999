"""Decoding `ledger.changes.v1` records (pure): each Kafka record becomes a `Decoded` — a device
change staged as a `StagedChange` row, a sync-run summary, another projected message, or poison.

`StagedChange` is one row of the `stage_changes` temporary table (write.py), in its column order:
typed columns and small JSON documents, COPYed as they are. Code reads it by name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from pydantic import TypeAdapter

from ledger_contracts import FieldChange, LedgerDevice, LedgerDeviceChanged, SyncRunSummary, codec

from .events import OTHER_MESSAGES, Positioned, history_changes

CONSUMER_NAME = "ledger-api"


class KafkaRecord(Protocol):
    """The part of aiokafka's ConsumerRecord the projection reads."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Poison:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str


class StagedChange(NamedTuple):
    """One device change as a row of `stage_changes` (its column order: `STAGE_COLUMNS`).

    Small on purpose: one wide JSON document per row would be TOASTed, then detoasted again for
    every column read out of it. The device columns are None for a deletion.
    """

    kafka_partition: int
    kafka_offset: int
    event_id: uuid.UUID
    tenant_id: str
    device_id: uuid.UUID
    version: int
    change: str
    command_id: uuid.UUID | None
    occurred_at: datetime
    previous_source: str | None
    changes: str  # JSON array of FieldChange
    provenance: str  # JSON object
    # the device state after the change (None for a deletion)
    source: str | None = None
    asset_number: str | None = None
    serial_number: str | None = None
    os: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    assigned_user: str | None = None
    status: str | None = None
    notes: str | None = None
    custom_fields: str | None = None  # JSON object
    binding_integration_id: str | None = None
    binding_mdm_kind: str | None = None
    binding_mdm_device_id: str | None = None
    mdm: str | None = None  # JSON object of MdmOnlyFields
    missing_from_mdm: bool | None = None
    last_seen_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # R-P2/R-P3 (issue 11): the bindings beyond the primary, and each field's origin MDM (JSON)
    other_bindings: str | None = None
    field_origins: str | None = None


# The columns COPYed into `stage_changes` (all of them but `latest`, which defaults to true).
STAGE_COLUMNS: tuple[str, ...] = StagedChange._fields


@dataclass(frozen=True, slots=True)
class Decoded:
    """One record after decoding: exactly one of `change_row`, `summary`, `other`, `poison` is set."""

    partition: int
    offset: int
    change_row: StagedChange | None = None
    summary: SyncRunSummary | None = None
    other: Positioned | None = None  # conflicts, plans, rejections, imports (events.py)
    poison: Poison | None = None


def _inconsistency(msg: LedgerDeviceChanged) -> str | None:
    """A change the ledger cannot apply although it decodes (it goes to the dead-letter topic)."""
    dev = msg.device
    if dev is None:
        return None if msg.change == "deleted" else f"{msg.change!r} change without the device state"
    if dev.device_id != msg.device_id or dev.tenant_id != msg.tenant_id or dev.version != msg.version:
        return "device state does not match the change's device_id/tenant_id/version"
    return None


def decode_record(record: KafkaRecord) -> Decoded:
    def poison(error: str) -> Decoded:
        return Decoded(
            record.partition,
            record.offset,
            poison=Poison(record.partition, record.offset, record.key, record.value, error),
        )

    try:
        msg = codec.decode(codec.change_adapter, record.value)
    except codec.PoisonMessage as exc:
        return poison(str(exc))
    if isinstance(msg, SyncRunSummary):
        return Decoded(record.partition, record.offset, summary=msg)
    if isinstance(msg, OTHER_MESSAGES):
        other = Positioned(record.partition, record.offset, msg)
        return Decoded(record.partition, record.offset, other=other)
    if (problem := _inconsistency(msg)) is not None:
        return poison(problem)
    return Decoded(record.partition, record.offset, change_row=_stage_row(record, msg))


# pydantic's serializers: faster here than the json module, and canonical (UTC timestamps).
_changes_json = TypeAdapter(tuple[FieldChange, ...]).dump_json
_custom_fields_json = TypeAdapter(dict[str, str | None]).dump_json


def _stage_row(record: KafkaRecord, msg: LedgerDeviceChanged) -> StagedChange:
    head = StagedChange(
        kafka_partition=record.partition,
        kafka_offset=record.offset,
        event_id=msg.event_id,
        tenant_id=msg.tenant_id,
        device_id=msg.device_id,
        version=msg.version,
        change=msg.change,
        command_id=msg.provenance.command_id,
        occurred_at=msg.occurred_at,
        previous_source=msg.previous_source,
        changes=history_changes(msg.changes),
        provenance=msg.provenance.model_dump_json(),
    )
    d = msg.device
    if d is None:
        return head
    b = d.binding
    return head._replace(
        source=d.source,
        asset_number=d.asset_number,
        serial_number=d.serial_number,
        os=d.os,
        manufacturer=d.manufacturer,
        model=d.model,
        assigned_user=d.assigned_user,
        status=d.status,
        notes=d.notes,
        custom_fields=_custom_fields_json(d.custom_fields).decode() if d.custom_fields else "{}",
        binding_integration_id=b.integration_id if b else None,
        binding_mdm_kind=b.mdm_kind if b else None,
        binding_mdm_device_id=b.mdm_device_id if b else None,
        mdm=d.mdm.model_dump_json() if d.mdm is not None else None,
        missing_from_mdm=d.missing_from_mdm,
        last_seen_at=d.last_seen_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
        other_bindings=_other_bindings_json(d) if d.other_bindings else "[]",
        field_origins=json.dumps(d.field_origins) if d.field_origins else "{}",
    )


def _other_bindings_json(d: LedgerDevice) -> str:
    """What the API shows of each other binding: the binding, its MDM-only fields and state."""
    return json.dumps(
        [
            b.model_dump(mode="json", include={"binding", "mdm", "missing_from_mdm", "last_seen_at"})
            for b in d.other_bindings
        ]
    )


def dead_letter_headers(poison: Poison, topic: str) -> list[tuple[str, bytes]]:
    return codec.dead_letter_headers(poison.error, topic, poison.partition, poison.offset, CONSUMER_NAME)
