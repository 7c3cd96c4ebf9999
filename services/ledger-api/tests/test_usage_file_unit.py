"""R-C3: reading a usage-history CSV file, without the API or a database (issue 14, `make mutation`):
the header's errors, every row error with its row, column and exact text, how a row names its
device, and the periods read. Literal files and messages only."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ledger_api.domain.device_csv import RowError
from ledger_api.domain.usage_history import Devices, Period, overlaps, read_usage_file

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-C3")]

D1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
D2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
DEVICES = Devices(ids={D1, D2}, by_asset={"A-1": D1, "A2": D2})


def errors(text: str) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.column, e.message) for e in read_usage_file(text, DEVICES).errors]


def test_an_empty_file_needs_a_header() -> None:
    for text in ("", "\n\n", " , \n"):
        out = read_usage_file(text, DEVICES)
        assert out.periods == []
        assert out.errors == [RowError(None, None, "the file is empty (a header row is needed)")]


def test_the_periods_of_a_good_file() -> None:
    text = (
        "device_id,asset_number,user,from,to\n"
        f"{D1},,kim@x,2025-01-01,2025-01-31\n"
        "\n"
        ",a 2,lee@x,2025-02-01,\n"
        f" {D2} , A2 , ann@x ,2024-12-01,2024-12-01\n"
    )
    out = read_usage_file(text, DEVICES)
    assert out.errors == []
    assert out.periods == [
        Period(2, D1, "kim@x", date(2025, 1, 1), date(2025, 1, 31)),
        Period(4, D2, "lee@x", date(2025, 2, 1), None),
        Period(5, D2, "ann@x", date(2024, 12, 1), date(2024, 12, 1)),
    ]
    assert out.devices == {D1, D2}


def test_columns_may_come_in_any_order_and_the_asset_number_alone_names_the_device() -> None:
    out = read_usage_file(" to , from ,user,asset_number\n,2025-03-01,kim@x,A-1\n", DEVICES)
    assert out.errors == []
    assert out.periods == [Period(2, D1, "kim@x", date(2025, 3, 1), None)]


@pytest.mark.parametrize(
    ("header", "messages"),
    [
        (
            "device_id,user,from,user,from",
            ["duplicate column(s): from, user"],
        ),
        (
            "device_id,user,from,since,who",
            ["unknown column(s): since, who (allowed: device_id, asset_number, user, from, to)"],
        ),
        ("device_id,to", ["missing column(s): user, from"]),
        ("user,from,to", ["missing column(s): device_id or asset_number"]),
        ("to", ["missing column(s): user, from, device_id or asset_number"]),
        (
            "user,user,x",
            [
                "duplicate column(s): user",
                "unknown column(s): x (allowed: device_id, asset_number, user, from, to)",
                "missing column(s): from, device_id or asset_number",
            ],
        ),
    ],
)
def test_header_errors_are_named_on_row_one(header: str, messages: list[str]) -> None:
    text = f"{header}\n{D1},kim@x,2025-01-01,,\n"
    out = read_usage_file(text, DEVICES)
    assert out.periods == []
    assert [(e.row, e.column, e.message) for e in out.errors] == [(1, None, m) for m in messages]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (f"{D1},,kim@x,2025-01-01", [(2, None, "has 4 cells, the header has 5")]),
        (f"{D1},,kim@x,2025-01-01,,x", [(2, None, "has 6 cells, the header has 5")]),
        ("not-a-uuid,,kim@x,2025-01-01,", [(2, "device_id", "'not-a-uuid' is not a device id")]),
        (
            "00000000-0000-4000-8000-000000000009,,kim@x,2025-01-01,",
            [(2, "device_id", "no device 00000000-0000-4000-8000-000000000009 in this ledger")],
        ),
        (",A-9,kim@x,2025-01-01,", [(2, "asset_number", "no device has the asset number 'A-9'")]),
        (
            f"{D1},A2,kim@x,2025-01-01,",
            [(2, "asset_number", f"asset number 'A2' is device {D2}, not {D1}")],
        ),
        (",,kim@x,2025-01-01,", [(2, None, "the device is missing (device_id or asset_number)")]),
        (f"{D1},,,2025-01-01,", [(2, "user", "who used the device is missing")]),
        (f"{D1},,kim@x,,", [(2, "from", "the first day of use is missing")]),
        (f"{D1},,kim@x,2025-1-1,", [(2, "from", "'2025-1-1' is not a date (YYYY-MM-DD)")]),
        (f"{D1},,kim@x,20250101,", [(2, "from", "'20250101' is not a date (YYYY-MM-DD)")]),
        (f"{D1},,kim@x,2025-02-30,", [(2, "from", "'2025-02-30' is not a date (YYYY-MM-DD)")]),
        (f"{D1},,kim@x,2025-01-01,soon", [(2, "to", "'soon' is not a date (YYYY-MM-DD)")]),
        (
            f"{D1},,kim@x,2025-01-02,2025-01-01",
            [(2, "to", "ends (2025-01-01) before it starts (2025-01-02)")],
        ),
        (
            "x,,,31.12.2024,",
            [
                (2, "device_id", "'x' is not a device id"),
                (2, "user", "who used the device is missing"),
                (2, "from", "'31.12.2024' is not a date (YYYY-MM-DD)"),
            ],
        ),
    ],
)
def test_each_row_error_names_its_row_and_column(
    row: str, expected: list[tuple[int | None, str | None, str]]
) -> None:
    text = f"device_id,asset_number,user,from,to\n{row}\n"
    out = read_usage_file(text, DEVICES)
    assert [(e.row, e.column, e.message) for e in out.errors] == expected
    assert out.periods == []


def test_a_row_with_an_error_is_left_out_and_the_others_are_read() -> None:
    text = (
        "device_id,asset_number,user,from,to\n"
        f"{D1},,kim@x,2025-01-01,\n"
        f"{D2},,,2025-01-01,\n"
        f"{D2},,lee@x,2025-01-05,2025-01-06\n"
    )
    out = read_usage_file(text, DEVICES)
    assert [(e.row, e.column) for e in out.errors] == [(3, "user")]
    assert [p.row for p in out.periods] == [2, 4]


def test_the_same_day_as_first_and_last_day_is_one_day_of_use() -> None:
    assert errors(f"device_id,user,from,to\n{D1},kim@x,2025-01-01,2025-01-01\n") == []


def period(row: int | None, start: str, end: str | None, device: uuid.UUID = D1) -> Period:
    return Period(row, device, "kim@x", date.fromisoformat(start), date.fromisoformat(end) if end else None)


def test_overlapping_periods_of_one_device_are_named_with_both() -> None:
    periods = [period(2, "2025-01-01", "2025-12-31"), period(3, "2025-02-01", "2025-02-10")]
    periods += [period(4, "2025-03-01", None), period(5, "2025-03-01", None, D2)]
    assert overlaps(periods, []) == [
        RowError(3, "from", f"2025-02-01–2025-02-10 of device {D1} overlaps row 2 (2025-01-01–2025-12-31)"),
        RowError(4, "from", f"2025-03-01–… of device {D1} overlaps row 2 (2025-01-01–2025-12-31)"),
    ]


def test_a_period_overlapping_one_already_recorded() -> None:
    recorded = [period(None, "2025-01-01", None)]
    assert overlaps([period(7, "2025-02-01", "2025-02-10")], recorded) == [
        RowError(
            7,
            "from",
            f"2025-02-01–2025-02-10 of device {D1} overlaps a period already recorded (2025-01-01–…)",
        )
    ]
    later = [period(None, "2025-01-05", "2025-01-31")]
    assert overlaps([period(8, "2024-12-01", "2025-01-05")], later) == [
        RowError(8, "to", f"overlaps a period already recorded for device {D1}")
    ]
    assert overlaps([period(9, "2024-12-01", "2025-01-04")], later) == []
    assert overlaps([period(9, "2025-02-01", None)], later) == []
