"""Contract compatibility: golden JSON samples of every message still decode, and round-trip."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger_contracts import (
    CreateDevice,
    DeviceFieldsInput,
    DeviceObserved,
    LedgerDeviceChanged,
    ObservedDevice,
    SyncRequested,
    SyncRunStarted,
    UpdateDevice,
    codec,
)

GOLDEN = Path(__file__).parent / "golden"
ADAPTERS = {
    "sync-requests": codec.sync_request_adapter,
    "snapshots": codec.snapshot_adapter,
    "commands": codec.command_adapter,
    "changes": codec.change_adapter,
}

pytestmark = pytest.mark.unit


def golden_files() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


def test_every_topic_has_golden_samples() -> None:
    prefixes = {p.name.split("__")[0] for p in golden_files()}
    assert prefixes == set(ADAPTERS)


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_sample_decodes_and_round_trips(path: Path) -> None:
    adapter = ADAPTERS[path.name.split("__")[0]]
    raw = path.read_bytes()
    event = codec.decode(adapter, raw)
    assert event.type == path.stem.split("__")[1]
    # Re-encoding and decoding gives the same value: nothing is lost on the wire.
    again = codec.decode(adapter, codec.encode(event)[1])
    assert again == event
    # Every key of the golden sample is still known to the contract (no silent renames).
    assert set(json.loads(raw)) <= set(json.loads(event.model_dump_json()))


def test_unknown_keys_are_rejected() -> None:
    raw = json.loads((GOLDEN / "snapshots__device_observed.json").read_text())
    raw["device"]["surprise"] = 1
    with pytest.raises(codec.PoisonMessage, match=r"device\.surprise"):
        codec.decode(codec.snapshot_adapter, json.dumps(raw).encode())


def test_unknown_type_is_poison() -> None:
    with pytest.raises(codec.PoisonMessage):
        codec.decode(codec.snapshot_adapter, b'{"type": "nope", "tenant_id": "t"}')
    with pytest.raises(codec.PoisonMessage, match="tombstone"):
        codec.decode(codec.snapshot_adapter, None)
    with pytest.raises(codec.PoisonMessage):
        codec.decode(codec.snapshot_adapter, b"not json")


def test_contracts_are_frozen() -> None:
    device = ObservedDevice(mdm_device_id="x")
    with pytest.raises(ValidationError):
        device.serial_number = "y"  # type: ignore[misc]


def test_timestamps_are_normalised_to_utc_and_naive_rejected() -> None:
    jst = timezone(timedelta(hours=9))
    ev = SyncRunStarted.model_validate(
        {
            "tenant_id": "t",
            "sync_run_id": str(uuid.uuid4()),
            "occurred_at": datetime(2026, 1, 1, 9, tzinfo=jst).isoformat(),
            "master_link": {"master_link_id": "m", "integration_id": "i", "mdm_kind": "intune"},
        }
    )
    assert ev.occurred_at.utcoffset() == timedelta(0)
    assert ev.occurred_at.hour == 0
    with pytest.raises(ValidationError):
        SyncRunStarted.model_validate(
            {
                "tenant_id": "t",
                "sync_run_id": str(uuid.uuid4()),
                "occurred_at": "2026-01-01T09:00:00",
                "master_link": {"master_link_id": "m", "integration_id": "i", "mdm_kind": "intune"},
            }
        )


def test_key_is_tenant_id() -> None:
    ev = CreateDevice(tenant_id="acme", device_id=uuid.uuid4(), fields={})  # type: ignore[arg-type]
    key, value = codec.encode(ev)
    assert key == b"acme"
    assert json.loads(value)["type"] == "create_device"


def test_classes_exported() -> None:
    for cls in (SyncRequested, DeviceObserved, LedgerDeviceChanged):
        assert cls.model_config["frozen"] is True
        assert cls.model_config["extra"] == "forbid"


def test_patch_keys_survive_the_wire() -> None:
    """Only the keys a person set travel: a PATCH of one field must not clear the others."""
    cmd = UpdateDevice(tenant_id="t", device_id=uuid.uuid4(), fields=DeviceFieldsInput(notes="x", model=None))
    decoded = codec.decode(codec.command_adapter, codec.encode(cmd)[1])
    assert decoded.fields.model_fields_set == {"notes", "model"}
    assert json.loads(codec.encode(cmd)[1])["fields"] == {"notes": "x", "model": None}
