"""The simulator's RSQL subset: what Jamf clients send in `filter`."""

from __future__ import annotations

import pytest

from mdm_sim.jamf.rsql import FilterError, parse

pytestmark = pytest.mark.unit

FIELDS = {
    "id": ("id",),
    "general.name": ("general", "name"),
    "hardware.serialNumber": ("hardware", "serialNumber"),
}
RECORDS = [
    {"id": str(i), "general": {"name": f"mac-{i}"}, "hardware": {"serialNumber": "C02" if i % 2 else None}}
    for i in range(1, 13)
]


def ids(expr: str) -> list[int]:
    keep = parse(expr, FIELDS)
    return [int(r["id"]) for r in RECORDS if keep(r)]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("id>10", [11, 12]),  # numeric, not string, comparison: "9" > "10" as text
        ("id<=2", [1, 2]),
        ("id==7", [7]),
        ("id!=7;id<4", [1, 2, 3]),
        ("(id>2;id<5),(id>10)", [3, 4, 11, 12]),
        ("id>2;id<5,id>10", [3, 4, 11, 12]),  # ";" binds tighter than ","
        ('general.name=="mac-3"', [3]),
        ("general.name==mac-4", [4]),
        ("id=in=(1,5,9)", [1, 5, 9]),
        ("id=out=(1,2,3,4,5,6,7,8,9,10)", [11, 12]),
        ("hardware.serialNumber!=C02", [2, 4, 6, 8, 10, 12]),  # missing values are "not equal"
    ],
)
def test_expressions(expr: str, expected: list[int]) -> None:
    assert ids(expr) == expected


@pytest.mark.parametrize("expr", ["id>>3", "colour==red", "(id>3", "id>", "id>3;", "id=in=1"])
def test_bad_expressions_are_rejected(expr: str) -> None:
    with pytest.raises(FilterError):
        parse(expr, FIELDS)
