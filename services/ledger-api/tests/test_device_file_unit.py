"""R-C2: reading and checking a device CSV file, without the API or a database (issue 14,
`make mutation`): decoding, CSV errors, the header, each row error with its row, column and exact
text, what a row sets, and the checks against the ledger (unknown devices, asset numbers unique once
the whole file is applied). Literal files and messages only; no custom field definitions here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger_api.domain.device_csv import (
    ExistingDevice,
    ImportedRow,
    InvalidFile,
    LedgerView,
    RowError,
    cell,
    check_against_ledger,
    decode,
    mdm_column,
    read_device_file,
    records,
    write_rows,
)
from ledger_contracts import DeviceFieldsInput

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-C2")]

D1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
D2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
D3 = uuid.UUID("00000000-0000-4000-8000-000000000003")


def errors(text: str) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.column, e.message) for e in read_device_file(text, {}).errors]


def test_a_file_is_utf8_with_or_without_a_bom() -> None:
    assert decode(b"\xef\xbb\xbfdevice_id,model\n") == "device_id,model\n"
    assert decode("model\nBücher\n".encode()) == "model\nBücher\n"
    with pytest.raises(InvalidFile) as caught:
        decode(b"model\nB\xfccher\n")
    assert caught.value.error == RowError(None, None, "the file is not UTF-8 (byte 7)")
    assert str(caught.value) == "the file is not UTF-8 (byte 7)"


def test_a_row_error_as_json() -> None:
    assert RowError(3, "model", "bad").as_dict() == {"row": 3, "column": "model", "message": "bad"}
    assert RowError(None, None, "x").as_dict() == {"row": None, "column": None, "message": "x"}


def test_records_skip_blank_lines_and_number_rows_from_the_header() -> None:
    assert list(records('a,b\n\n , \n"x",y\n')) == [(1, ["a", "b"]), (4, ["x", "y"])]


def test_a_file_that_is_not_csv_names_the_row_it_broke_on() -> None:
    with pytest.raises(InvalidFile) as caught:
        list(records('model\nok\n"broken\n'))
    assert caught.value.error.row == 3
    assert caught.value.error.column is None
    assert caught.value.error.message.startswith("not valid CSV: ")


def test_an_empty_file_needs_a_header() -> None:
    out = read_device_file("\n", {})
    assert (out.columns, out.rows) == ([], [])
    assert out.errors == [RowError(None, None, "the file is empty (a header row is needed)")]


def test_header_errors_are_named_on_row_one() -> None:
    out = read_device_file("model,model,colour,custom_room,device_id\nx,y,z,w,\n", {})
    assert out.rows == []
    assert out.columns == ["model", "model", "colour", "custom_room", "device_id"]
    assert [(e.row, e.column, e.message) for e in out.errors] == [
        (1, None, "duplicate column(s): model"),
        (
            1,
            None,
            "unknown column(s): colour, custom_room (ledger fields, device_id, custom_<defined custom "
            "field>, read-only columns of the export, and mdm_* columns are allowed)",
        ),
    ]


def test_a_row_sets_exactly_the_files_ledger_columns_and_ignores_read_only_and_mdm_ones() -> None:
    text = (
        " device_id , model ,notes,source,version,mdm_device_name,mdm_udid\n"
        f"{D1}, Latitude 7440 ,,intune,9,PC-1,U\n"
        ",X1,'=1+1,manual,1,,\n"
    )
    out = read_device_file(text, {})
    assert out.errors == []
    assert out.columns == ["device_id", "model", "notes", "source", "version", "mdm_device_name", "mdm_udid"]
    assert out.rows == [
        ImportedRow(2, D1, DeviceFieldsInput(model="Latitude 7440", notes=None)),
        ImportedRow(3, None, DeviceFieldsInput(model="X1", notes="=1+1")),
    ]
    assert out.rows[0].fields.model_fields_set == {"model", "notes"}
    assert out.named_devices == {D1}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (f"{D1},X", [(2, None, "has 2 cells, the header has 3")]),
        (f"{D1},X,Y,Z", [(2, None, "has 4 cells, the header has 3")]),
        ("nope,X,", [(2, "device_id", "'nope' is not a device id")]),
        (
            f"{D1},X,\n{D2},Y,\n{D1},Z,",
            [(4, "device_id", f"device {D1} is also on row 2")],
        ),
    ],
)
def test_each_row_error_names_its_row_and_column(
    rows: str, expected: list[tuple[int | None, str | None, str]]
) -> None:
    assert errors(f"device_id,model,notes\n{rows}\n") == expected


def test_a_new_device_needs_a_ledger_value_not_only_read_only_ones() -> None:
    assert errors("device_id,model,source,mdm_udid\n,,manual,U-1\n") == [
        (2, None, "a new device needs a value in a ledger or custom column")
    ]


def test_a_bad_row_is_left_out_and_the_others_are_read() -> None:
    out = read_device_file(f"device_id,model\nnope,X\n{D2},Y\n,Z\n", {})
    assert [(e.row, e.column) for e in out.errors] == [(2, "device_id")]
    assert [(r.row, r.device_id, r.fields.model) for r in out.rows] == [(3, D2, "Y"), (4, None, "Z")]


def row(number: int, device_id: uuid.UUID | None, **fields: str | None) -> ImportedRow:
    return ImportedRow(number, device_id, DeviceFieldsInput(**fields))


def check(*rows: ImportedRow, ledger: LedgerView) -> list[tuple[int | None, str | None, str]]:
    file = read_device_file("model\n", {})
    file.rows.extend(rows)
    return [(e.row, e.column, e.message) for e in check_against_ledger(file, ledger, {})]


LEDGER = LedgerView(
    devices={D1: ExistingDevice("A-1", {}), D2: ExistingDevice("A-2", {})},
    asset_owners={"A-1": D1, "A-2": D2, "A-9": D3},
)


def test_a_row_naming_a_device_the_ledger_does_not_have() -> None:
    assert check(row(2, D3, model="X"), ledger=LEDGER) == [(2, "device_id", f"no device {D3} in this ledger")]


def test_asset_numbers_are_checked_on_the_state_after_the_whole_file() -> None:
    # swapping two devices' numbers is fine
    assert check(row(2, D1, asset_number="a-2"), row(3, D2, asset_number="A 1"), ledger=LEDGER) == []
    # keeping one's own number, in another spelling
    assert check(row(2, D1, asset_number=" a-1"), ledger=LEDGER) == []
    # a device of the ledger not in the file holds it
    assert check(row(5, None, asset_number="A-9"), ledger=LEDGER) == [
        (5, "asset_number", f"the asset number belongs to device {D3}")
    ]
    # the same number twice in the file (one of them a device's current number it keeps)
    assert check(row(4, None, asset_number="a-1"), row(3, D1, model="X"), ledger=LEDGER) == [
        (3, "asset_number", "the same asset number is on rows 3, 4")
    ]
    assert check(row(2, None, asset_number="N-1"), row(9, None, asset_number="n1"), ledger=LEDGER) == []
    assert check(row(7, None, asset_number="N 1"), row(2, None, asset_number="n1"), ledger=LEDGER) == [
        (2, "asset_number", "the same asset number is on rows 2, 7")
    ]
    # emptying a number frees it
    assert check(row(2, D1, asset_number=None), row(3, None, asset_number="A-1"), ledger=LEDGER) == []


# --- writing cells and rows (R-C1, R-X1) and reading details -------------------------------------


@pytest.mark.rule("R-C1")
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC), "2026-01-02T03:04:05.600000Z"),
        (0, "0"),
        (-2.5, "-2.5"),
        (D1, "00000000-0000-4000-8000-000000000001"),
        ("kim", "kim"),
        ("=1+1", "'=1+1"),
        ("", ""),
    ],
)
def test_how_a_value_is_written_in_a_cell(value: object, text: str) -> None:
    assert cell(value) == text


@pytest.mark.rule("R-C1")
def test_rows_are_written_as_spreadsheets_write_them() -> None:
    rows: list[list[object]] = [
        ["device_id", "model", "missing_from_mdm"],
        [None, "a,b", True],
        ["-1", 3, "x"],
    ]
    assert write_rows(rows) == 'device_id,model,missing_from_mdm\r\n,"a,b",true\r\n\'-1,3,x\r\n'


@pytest.mark.rule("R-I8")
def test_mdm_only_fields_get_the_mdm_prefix_once() -> None:
    assert mdm_column("device_name") == "mdm_device_name"
    assert mdm_column("mdm_device_id") == "mdm_device_id"


def test_a_broken_header_is_row_one() -> None:
    with pytest.raises(InvalidFile) as caught:
        list(records('"model"x,notes\nX,Y\n'))
    assert caught.value.error.row == 1


def test_a_quoted_line_break_stays_in_its_cell() -> None:
    assert list(records('model,notes\nX,"two\r\nlines"\n')) == [
        (1, ["model", "notes"]),
        (2, ["X", "two\r\nlines"]),
    ]


def test_every_duplicate_column_is_named() -> None:
    assert errors("model,notes,model,notes\n") == [(1, None, "duplicate column(s): model, notes")]


def test_rows_after_a_bad_one_are_still_read() -> None:
    out = read_device_file(f"device_id,model\n{D1}\n{D1},X\n{D1},Y\n,Z\n", {})
    assert [(e.row, e.message) for e in out.errors] == [
        (2, "has 1 cells, the header has 2"),
        (4, f"device {D1} is also on row 3"),
    ]
    assert [(r.row, r.fields.model) for r in out.rows] == [(3, "X"), (5, "Z")]
