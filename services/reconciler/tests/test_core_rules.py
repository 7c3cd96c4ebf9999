"""The seed's rules, one test per rule ID (SPEC §2, §4, §5), on the pure core."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger_contracts import (
    CreateDevice,
    DeleteDevice,
    DeviceFieldsInput,
    MasterLinkSettings,
    MatchingKey,
    MdmOnlyFields,
    ObservedDevice,
    UpdateDevice,
)
from reconciler.core import (
    Conflict,
    Created,
    Ledger,
    Outcome,
    Rejected,
    Unchanged,
    Updated,
    apply,
    clean_serial,
    decide_create,
    decide_delete,
    decide_observation,
    decide_update,
    match_key,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 6, tzinfo=UTC)
RUN = uuid.UUID(int=1)
LINK = MasterLinkSettings(master_link_id="ml", integration_id="intune-1", mdm_kind="intune")


def obs(mdm_id: str = "m1", **kw: object) -> ObservedDevice:
    base: dict[str, object] = {
        "mdm_device_id": mdm_id,
        "uuid": mdm_id,
        "serial_number": "SN-" + mdm_id,
        "device_name": "PC-" + mdm_id,
        "os": "Windows (10.0.22631)",
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7440",
        "assigned_user": "alice@example.com",
        "mdm": MdmOnlyFields(device_name="PC-" + mdm_id, registration_status="registered"),
    }
    return ObservedDevice(**(base | kw))  # type: ignore[arg-type]  # test values, validated by pydantic


def manual(ledger: Ledger, **fields: object) -> uuid.UUID:
    cmd = CreateDevice(tenant_id="t", device_id=uuid.uuid4(), fields=DeviceFieldsInput(**fields))  # type: ignore[arg-type]  # validated by pydantic
    out = decide_create(ledger, cmd, NOW)
    assert isinstance(out, Created)
    apply(ledger, out)
    return cmd.device_id


def sync(ledger: Ledger, o: ObservedDevice, link: MasterLinkSettings = LINK) -> Outcome:
    out = decide_observation(ledger, link, RUN, o, NOW, uuid.uuid4())
    apply(ledger, out)
    return out


def test_core_imports_no_io_library() -> None:
    """STYLE §1: the core is pure. Any I/O import here fails the build."""
    forbidden = {"asyncio", "asyncpg", "aiokafka", "httpx", "socket", "os", "subprocess", "requests", "io"}
    core = Path(__file__).parents[1] / "src" / "reconciler" / "core"
    for path in core.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            assert not set(names) & forbidden, f"{path.name} imports {set(names) & forbidden}"


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "",
        "  ",
        "To be filled by O.E.M.",
        "Default string",
        "Defaultstring",
        "System Serial Number",
        "00000000",
    ],
)
def test_r_i1_placeholder_serials_are_empty_and_never_match(raw: str) -> None:
    assert clean_serial(raw) is None
    assert match_key(raw) is None
    ledger = Ledger("t")
    manual(ledger, serial_number="0", asset_number="A1")  # a ledger device with the same placeholder
    out = sync(ledger, obs(serial_number=raw))
    assert isinstance(out, Created)  # R-M5: not matched to the "0" device
    assert out.device.serial_number is None


def test_r_i1_serial_is_ledger_first() -> None:
    ledger = Ledger("t")
    sync(ledger, obs(serial_number="SN1"))
    out = sync(ledger, obs(serial_number="SN2"))
    assert isinstance(out, Unchanged)
    assert out.device.serial_number == "SN1"


def test_r_i2_os_is_mdm_first_and_r_i6_user_is_mdm_first() -> None:
    ledger = Ledger("t")
    sync(ledger, obs())
    out = sync(ledger, obs(os="Windows (10.0.26100)", assigned_user="bob@example.com"))
    assert isinstance(out, Updated)
    assert out.device.os == "Windows (10.0.26100)"
    assert out.device.assigned_user == "bob@example.com"
    assert {(c.field, c.rule) for c in out.changes} >= {("os", "mdm_first"), ("assigned_user", "mdm_first")}
    assert out.device.version == 2


@pytest.mark.rule("R-I3", "R-I4")
def test_r_i3_r_i4_manufacturer_and_model_are_ledger_first() -> None:
    ledger = Ledger("t")
    manual(ledger, serial_number="SN-m1", manufacturer="DELL", model=None)
    out = sync(ledger, obs(manufacturer="Dell Inc.", model="Latitude 7440"))
    assert isinstance(out, Updated)
    assert out.device.manufacturer == "DELL"  # kept: the ledger had a value
    assert out.device.model == "Latitude 7440"  # filled: the ledger was empty


@pytest.mark.parametrize(("source", "expected"), [("uuid", "m1"), ("device_name", "PC-m1")])
def test_r_i5_asset_number_from_uuid_or_device_name(source: str, expected: str) -> None:
    ledger = Ledger("t")
    link = LINK.model_copy(update={"asset_number_source": source})
    out = sync(ledger, obs(), link)
    assert isinstance(out, Created)
    assert out.device.asset_number == expected


@pytest.mark.rule("R-I7")
def test_r_i7_sync_touches_no_other_field() -> None:
    ledger = Ledger("t")
    manual(ledger, serial_number="SN-m1", status="in_use", notes="desk 4", custom_fields={"cc": "R&D"})
    out = sync(ledger, obs())
    assert isinstance(out, Updated)
    assert (out.device.status, out.device.notes, out.device.custom_fields) == (
        "in_use",
        "desk 4",
        {"cc": "R&D"},
    )


def test_r_i8_mdm_only_fields_always_latest() -> None:
    ledger = Ledger("t")
    sync(ledger, obs())
    out = sync(ledger, obs(mdm=MdmOnlyFields(device_name="RENAMED", disk_capacity_gb=256.0)))
    assert isinstance(out, Updated)
    assert out.device.mdm is not None
    assert out.device.mdm.device_name == "RENAMED"
    assert out.device.mdm.mdm_device_id == "m1"
    assert ("mdm.device_name", "mdm_only") in {(c.field, c.rule) for c in out.changes}


@pytest.mark.parametrize(
    ("mdm_key", "ledger_key", "ledger_fields"),
    [
        ("serial_number", "serial_number", {"serial_number": "sn-m1"}),  # case/space-insensitive
        ("serial_number", "asset_number", {"asset_number": "SN-m1"}),
        ("uuid", "serial_number", {"serial_number": "m1"}),
        ("uuid", "asset_number", {"asset_number": "m1"}),
    ],
)
def test_r_m1_r_m2_every_matching_key_pair(mdm_key: str, ledger_key: str, ledger_fields: dict) -> None:
    ledger = Ledger("t")
    device_id = manual(ledger, **ledger_fields)
    link = LINK.model_copy(update={"matching_key": MatchingKey(mdm=mdm_key, ledger=ledger_key)})  # type: ignore[arg-type]  # parametrized str
    out = sync(ledger, obs(), link)
    assert isinstance(out, Updated)
    assert out.device.device_id == device_id
    assert out.device.source == "intune"
    assert out.device.binding is not None and out.device.binding.mdm_device_id == "m1"
    assert len(ledger.devices) == 1


def test_r_m3_no_match_creates_with_source_mdm() -> None:
    ledger = Ledger("t")
    manual(ledger, serial_number="OTHER")
    out = sync(ledger, obs())
    assert isinstance(out, Created)
    assert out.device.source == "intune"
    assert len(ledger.devices) == 2


def test_r_m4_binding_wins_after_ledger_serial_edit() -> None:
    ledger = Ledger("t")
    device_id = manual(ledger, serial_number="SN-m1")
    sync(ledger, obs())
    edit = UpdateDevice(
        tenant_id="t", device_id=device_id, fields=DeviceFieldsInput(serial_number="EDITED-BY-HAND")
    )
    apply(ledger, decide_update(ledger, edit, NOW))
    out = sync(ledger, obs())  # the MDM still reports SN-m1
    assert isinstance(out, Unchanged)
    assert out.device.device_id == device_id
    assert out.device.serial_number == "EDITED-BY-HAND"  # ledger-first keeps the edit
    assert len(ledger.devices) == 1


def test_r_m9_ambiguous_key_is_a_conflict_and_nothing_changes() -> None:
    ledger = Ledger("t")
    manual(ledger, serial_number="SN-m1", asset_number="A")
    manual(ledger, serial_number="SN-M1", asset_number="B")
    before = dict(ledger.devices)
    out = sync(ledger, obs())
    assert isinstance(out, Conflict)
    assert out.rule == "ambiguous_match" and len(out.candidates) == 2
    assert ledger.devices == before


def test_r_m9_key_of_device_bound_to_another_mdm_device_is_a_conflict() -> None:
    ledger = Ledger("t")
    sync(ledger, obs("m1", serial_number="SAME"))
    out = sync(ledger, obs("m2", serial_number="SAME"))  # re-enrolled: new id, same serial
    assert isinstance(out, Conflict)
    assert out.rule == "bound_to_other_mdm_device"
    assert len(ledger.devices) == 1


def test_r_j3_asset_number_collision_gets_sys_prefix_deterministically() -> None:
    ledger = Ledger("t")
    link = MasterLinkSettings(master_link_id="j", integration_id="jamf-1", mdm_kind="jamf_pro")
    manual(ledger, asset_number="1A")
    first = sync(ledger, obs("computer:1", serial_number="S1", asset_tag="1A"), link)
    second = sync(ledger, obs("computer:2", serial_number="S2", asset_tag="1A"), link)
    third = sync(ledger, obs("computer:3", serial_number="S3", asset_tag="1A"), link)
    assert isinstance(first, Created) and first.device.asset_number == "SYS1A"
    assert isinstance(second, Created) and second.device.asset_number == "SYS1A-2"
    assert isinstance(third, Created) and third.device.asset_number == "SYS1A-3"


def test_r_s6_bound_device_cannot_be_deleted_but_manual_can() -> None:
    ledger = Ledger("t")
    out = sync(ledger, obs())
    assert isinstance(out, Created)
    rejected = decide_delete(ledger, DeleteDevice(tenant_id="t", device_id=out.device.device_id))
    assert isinstance(rejected, Rejected) and rejected.code == "device_bound"
    manual_id = manual(ledger, asset_number="MANUAL-1")
    deleted = decide_delete(ledger, DeleteDevice(tenant_id="t", device_id=manual_id))
    apply(ledger, deleted)
    assert manual_id not in ledger.devices


def test_manual_asset_number_must_be_unique() -> None:
    ledger = Ledger("t")
    manual(ledger, asset_number="A-1")
    cmd = CreateDevice(tenant_id="t", device_id=uuid.uuid4(), fields=DeviceFieldsInput(asset_number="a-1"))
    out = decide_create(ledger, cmd, NOW)
    assert isinstance(out, Rejected) and out.code == "asset_number_taken"


def test_patch_applies_only_given_keys_and_custom_field_removal() -> None:
    ledger = Ledger("t")
    device_id = manual(ledger, asset_number="A-1", model="X", custom_fields={"cc": "1", "room": "4"})
    edit = UpdateDevice(
        tenant_id="t",
        device_id=device_id,
        fields=DeviceFieldsInput(model="Y", custom_fields={"room": None}),
    )
    out = decide_update(ledger, edit, NOW)
    assert isinstance(out, Updated)
    assert out.device.asset_number == "A-1" and out.device.model == "Y"
    assert out.device.custom_fields == {"cc": "1"}
