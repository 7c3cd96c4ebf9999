"""R-X1: CSV exports neutralise formula cells (OWASP CSV injection); imports take them back unchanged."""

from __future__ import annotations

import pytest

from ledger_api.domain import device_csv

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-X1")]


@pytest.mark.parametrize(
    ("stored", "exported"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+81-3-1234", "'+81-3-1234"),
        ("-2+3", "'-2+3"),
        ("@cmd|' /C calc'!A0", "'@cmd|' /C calc'!A0"),
        ("\tHIDDEN", "'\tHIDDEN"),
        ("\rLINE", "'\rLINE"),
        ("'=already quoted", "''=already quoted"),
        ("''twice", "'''twice"),
        ("'plain", "'plain"),
        ("MacBook Pro", "MacBook Pro"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_and_restored(stored: str, exported: str) -> None:
    assert device_csv.cell(stored) == exported
    assert device_csv.restore(exported) == stored


def test_numbers_keep_their_sign() -> None:
    assert device_csv.cell(-5) == "-5"
    assert device_csv.cell(-1.5) == "-1.5"


def test_a_file_round_trip_keeps_formula_like_text() -> None:
    text = device_csv.write_rows([["notes"], ['=HYPERLINK("http://x")'], ["@SUM(1)"]])
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x"")"'
    rows = [cells for _, cells in device_csv.records(text)]
    assert [device_csv.blank(c[0]) for c in rows[1:]] == ['=HYPERLINK("http://x")', "@SUM(1)"]
