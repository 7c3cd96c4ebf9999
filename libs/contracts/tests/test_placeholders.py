"""R-I1 / R-M5: the one placeholder list, one literal example row per entry.

The examples are written out here, not taken from the module's constants, so deleting or
misspelling an entry fails a row; the last tests fail when an entry is added without a row.
"""

from __future__ import annotations

import pytest

from ledger_contracts.placeholders import (
    HARDWARE_PLACEHOLDER_TEXTS,
    SERIAL_PLACEHOLDER_TEXTS,
    clean_hardware,
    clean_serial,
    is_placeholder_hardware,
    is_placeholder_serial,
)

pytestmark = pytest.mark.unit

# (entry as listed, a variant as an MDM might send it: other case, spacing, padding)
SERIAL_EXAMPLES = [
    ("0", " 0 "),
    ("-1", "-1"),
    ("To be filled by O.E.M.", "TO BE FILLED BY O.E.M."),
    ("To be filled by OEM", "to be filled by oem"),
    ("Default string", "Defaultstring"),
    ("Default", " DEFAULT"),
    ("System Serial Number", "SystemSerialNumber"),
    ("Chassis Serial Number", "chassis serial  number"),
    ("Base Board Serial Number", "BaseBoard Serial Number"),
    ("Serial Number", "SERIAL NUMBER"),
    ("SerialNumber", "serialnumber"),
    ("Not Specified", "Not  Specified"),
    ("Not Available", "not available"),
    ("Not Applicable", "NOT APPLICABLE"),
    ("None", "none"),
    ("Null", "NULL"),
    ("N/A", "n / a"),
    ("NA", "na"),
    ("Unknown", "UNKNOWN "),
    ("OEM", "oem"),
    ("O.E.M.", "o.e.m."),
    ("INVALID", "Invalid"),
    ("0123456789", "01234 56789"),
    ("123456789", " 123456789"),
    ("1234567890", "1234567890\t"),
    ("[REDACTED]", "[redacted]"),
]

HARDWARE_EXAMPLES = [
    ("To be filled by O.E.M.", "to be filled by o.e.m."),
    ("System manufacturer", "System Manufacturer"),
    ("System Product Name", "SYSTEM PRODUCT NAME"),
    ("System Version", "system version"),
    ("Default string", "Default String"),
    ("Not Specified", "NotSpecified"),
    ("Unknown", "unknown"),
    ("OEM", " OEM "),
    ("O.E.M.", "O.E.M."),
]


@pytest.mark.parametrize(("entry", "variant"), SERIAL_EXAMPLES, ids=[e for e, _ in SERIAL_EXAMPLES])
def test_each_serial_placeholder_and_its_variant_is_no_serial(entry: str, variant: str) -> None:
    assert is_placeholder_serial(entry) and is_placeholder_serial(variant)
    assert clean_serial(entry) is None and clean_serial(variant) is None


@pytest.mark.parametrize(("entry", "variant"), HARDWARE_EXAMPLES, ids=[e for e, _ in HARDWARE_EXAMPLES])
def test_each_hardware_placeholder_and_its_variant_is_no_value(entry: str, variant: str) -> None:
    assert is_placeholder_hardware(entry) and is_placeholder_hardware(variant)
    assert clean_hardware(variant) is None


@pytest.mark.parametrize(
    "value", [None, "", "   ", "00000000", "XXXXXXXX", "0000-0000", "----", "zzzz", "1.1.1.1", "7"]
)
def test_empty_and_one_repeated_character_are_no_serial(value: str | None) -> None:
    assert clean_serial(value) is None


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("C02ZC2QYLVDL", "C02ZC2QYLVDL"),
        ("  C02ZC2QYLVDL \n", "C02ZC2QYLVDL"),
        ("1A", "1A"),
        ("0A1", "0A1"),
        ("VMware-42 14 5a 0b", "VMware-42 14 5a 0b"),
        ("12345678", "12345678"),  # not a listed sequence
        ("Default string 2", "Default string 2"),  # a listed text plus more is a real value
        ("NA-1234", "NA-1234"),
    ],
)
def test_real_serials_are_kept_trimmed(value: str, kept: str) -> None:
    assert clean_serial(value) == kept


@pytest.mark.parametrize(
    ("value", "kept"),
    [("Apple", "Apple"), ("Dell Inc.", "Dell Inc."), (" LENOVO ", "LENOVO"), ("System", "System")],
)
def test_real_hardware_names_are_kept(value: str, kept: str) -> None:
    assert clean_hardware(value) == kept


def test_every_serial_entry_has_an_example_row() -> None:
    assert sorted(SERIAL_PLACEHOLDER_TEXTS) == sorted(e for e, _ in SERIAL_EXAMPLES)


def test_every_hardware_entry_has_an_example_row() -> None:
    assert sorted(HARDWARE_PLACEHOLDER_TEXTS) == sorted(e for e, _ in HARDWARE_EXAMPLES)
