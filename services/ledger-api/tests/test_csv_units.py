"""Pure parts of custom fields (R-C4, R-M8), device and usage-history CSV (R-C1–R-C3), and the
routing of non-device change messages in the projection."""

from __future__ import annotations

import uuid
from datetime import date
from types import SimpleNamespace

import pytest

from ledger_api.domain import device_csv as csvio
from ledger_api.domain import usage_history
from ledger_api.domain.custom_fields import (
    Definition,
    canonical,
    check_values,
    emptied_on_update,
    missing_on_create,
)
from ledger_api.projection.decode import decode_record
from ledger_api.projection.plan import plan_batch
from ledger_contracts import (
    EDITABLE_FIELDS,
    CommandRejected,
    ConflictRecorded,
    DeviceFieldsInput,
    DevicesImported,
    ImportDevices,
    ImportRow,
    ObservedDevice,
    codec,
)

pytestmark = pytest.mark.unit

DEFS = {
    "cc": Definition("cc", "text", required=True),
    "price": Definition("price", "number"),
    "bought": Definition("bought", "date"),
    "leased": Definition("leased", "boolean"),
}


@pytest.mark.parametrize(
    ("name", "given", "stored"),
    [
        ("cc", "  R&D ", "R&D"),
        ("cc", "   ", None),
        ("price", "1.50", "1.5"),
        ("price", "-0", "0"),
        ("price", "1e3", "1000"),
        ("price", "12", "12"),
        ("bought", "2025-04-01", "2025-04-01"),
        ("leased", "YES", "true"),
        ("leased", "0", "false"),
        ("leased", None, None),
    ],
)
def test_values_are_stored_in_one_canonical_form(name: str, given: str | None, stored: str | None) -> None:
    assert canonical(DEFS[name], given) == stored


@pytest.mark.parametrize(
    ("name", "given"),
    [("price", "12,5"), ("price", "NaN"), ("price", "inf"), ("bought", "2025-4-1"), ("bought", "2025-02-30"),
     ("bought", "20250401"), ("leased", "maybe")],
)  # fmt: skip
def test_values_of_the_wrong_type_are_refused(name: str, given: str) -> None:
    with pytest.raises(ValueError, match=repr(given)):
        canonical(DEFS[name], given)


def test_unknown_mistyped_missing_and_emptied_fields_are_named() -> None:
    values, problems = check_values(DEFS, {"cc": "IT", "colour": "red", "price": "x"})
    assert values == {"cc": "IT"}
    assert [(p.field, p.kind) for p in problems] == [("colour", "unknown"), ("price", "type")]
    assert [p.field for p in missing_on_create(DEFS, {"price": "1"})] == ["cc"]
    assert missing_on_create(DEFS, {"cc": "IT"}) == []
    assert [p.field for p in emptied_on_update(DEFS, {"cc": "IT"}, {"cc": None})] == ["cc"]
    assert emptied_on_update(DEFS, {}, {"cc": None}) == []  # still empty (a synced device): allowed
    assert emptied_on_update(DEFS, {"price": "1"}, {"price": None}) == []  # not required


def test_columns_are_stable_and_mdm_only_fields_are_prefixed() -> None:
    columns = csvio.device_columns(["cc", "price"])
    assert columns[:12] == [
        "device_id", "asset_number", "serial_number", "os", "manufacturer", "model", "assigned_user",
        "status", "notes", "custom_cc", "custom_price", "source",
    ]  # fmt: skip
    assert "mdm_device_name" in columns and "mdm_device_id" in columns and "mdm_mdm_device_id" not in columns
    assert all(c.startswith("mdm_") for c in columns[-len(csvio.MDM_COLUMNS) :])
    assert len(set(columns)) == len(columns)
    assert set(csvio.LEDGER_COLUMNS) == set(EDITABLE_FIELDS)  # a new editable field needs its column


def test_a_file_sets_exactly_its_columns() -> None:
    a = uuid.uuid4()
    file = csvio.read_device_file(
        f"device_id,model,custom_cc,custom_price,mdm_udid,version\r\n{a},X1,IT,,u,3\r\n,New,HR,,,\r\n", DEFS
    )
    assert file.errors == []
    update, create = file.rows
    assert (update.row, update.device_id, create.row, create.device_id) == (2, a, 3, None)
    assert update.fields.model_fields_set == {"model", "custom_fields"}
    assert update.fields.custom_fields == {"cc": "IT", "price": None}  # an empty cell clears
    assert create.fields.custom_fields == {"cc": "HR"}  # nothing to clear on a new device


def test_asset_numbers_are_unique_on_the_final_state() -> None:
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ledger = csvio.LedgerView(
        devices={a: csvio.ExistingDevice("X", {}), b: csvio.ExistingDevice("Y", {})},
        asset_owners={"X": a, "Y": b, "Z": c},
    )
    defs = {"cc": Definition("cc", "text")}

    def errors(text: str) -> list[tuple[int | None, str | None]]:
        file = csvio.read_device_file(text, defs)
        return [(e.row, e.column) for e in file.errors + csvio.check_against_ledger(file, ledger, defs)]

    assert errors(f"device_id,asset_number\r\n{a},Y\r\n{b},x\r\n") == []  # a swap
    assert errors(f"device_id,asset_number\r\n{a},Y\r\n") == [(2, "asset_number")]  # b keeps Y
    assert errors("asset_number\r\nz\r\n") == [(2, "asset_number")]  # c's, case aside
    assert errors("asset_number\r\nN 1\r\nn1\r\n") == [(2, "asset_number")]  # twice in the file
    assert errors(f"device_id,model\r\n{a},m\r\n,m\r\n") == []  # a keeps X, the new one has none


def test_periods_overlap_when_they_share_a_day() -> None:
    d = uuid.uuid4()

    def period(row: int | None, start: str, end: str | None) -> usage_history.Period:
        return usage_history.Period(
            row, d, "u", date.fromisoformat(start), date.fromisoformat(end) if end else None
        )

    assert (
        usage_history.overlaps([period(2, "2025-01-01", "2025-01-31"), period(3, "2025-02-01", None)], [])
        == []
    )
    [err] = usage_history.overlaps([period(2, "2025-01-01", "2025-01-31"), period(3, "2025-01-31", None)], [])
    assert err.row == 3 and "overlaps row 2" in err.message
    [err] = usage_history.overlaps(
        [period(2, "2024-01-01", "2024-02-01")], [period(None, "2023-06-01", None)]
    )
    assert err.row == 2 and "already recorded" in err.message
    [err] = usage_history.overlaps(
        [period(2, "2020-01-01", None)], [period(None, "2023-06-01", "2023-07-01")]
    )
    assert err.row == 2 and "already recorded" in err.message


def test_an_import_command_carries_only_the_files_columns() -> None:
    command = ImportDevices(
        tenant_id="acme",
        import_id=uuid.uuid4(),
        rows=(ImportRow(row=2, fields=DeviceFieldsInput(model="X1", notes=None)),),
    )
    decoded = codec.decode(codec.command_adapter, codec.encode(command)[1])
    assert decoded == command
    assert decoded.rows[0].fields.model_fields_set == {"model", "notes"}
    assert command.created_device_id(2) == decoded.created_device_id(2) != command.created_device_id(3)


@pytest.mark.parametrize(
    "message",
    [
        CommandRejected(tenant_id="t", command_id=uuid.uuid4(), code="x", message="y"),
        DevicesImported(
            tenant_id="t", import_id=uuid.uuid4(), command_id=uuid.uuid4(), created=1, updated=0, unchanged=0
        ),
        ConflictRecorded(
            tenant_id="t", conflict_id=uuid.uuid4(), integration_id="i", mdm_device_id="m",
            sync_run_id=uuid.uuid4(), rule="ambiguous_match", candidates=(),
            observed=ObservedDevice(mdm_device_id="m"), message="m",
        ),
    ],
    ids=lambda m: m.type,
)  # fmt: skip
def test_non_device_changes_are_routed_to_their_projection_not_dead_lettered(message: object) -> None:
    record = SimpleNamespace(partition=1, offset=7, key=b"t", value=codec.encode(message)[1])  # type: ignore[arg-type]
    decoded = decode_record(record)
    assert decoded.other is not None and decoded.poison is None and decoded.change_row is None
    assert decoded.other.message == message and (decoded.other.partition, decoded.other.offset) == (1, 7)
    plan = plan_batch([decoded], {})
    assert plan.others == [decoded.other] and plan.next_offsets == {1: 8}
    assert plan_batch([decoded], {1: 8}).others == []  # projected already
