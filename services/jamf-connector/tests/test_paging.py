"""Walk bookkeeping: dedup on id, and the id gaps between pages a moving inventory can hide devices in."""

from __future__ import annotations

import pytest

from jamf_connector.paging import MAX_INTERVALS_PER_FILTER, Walk, gap_filters

pytestmark = pytest.mark.unit


def records(*ids: int | str | None) -> list[dict[str, object]]:
    return [{"id": i} if i is not None else {"general": {}} for i in ids]


def test_take_dedups_on_id_and_keeps_records_without_one() -> None:
    walk = Walk("id")
    assert len(walk.take(0, records(1, 2, 3))) == 3
    assert [r.get("id") for r in walk.take(1, records(3, 4, None))] == [4, None]
    assert walk.seen == {"1", "2", "3", "4"}


def test_gaps_between_pages_and_after_the_last() -> None:
    walk = Walk("id")
    walk.take(0, records(1, 2, 3))
    walk.take(2, records(9, 10))  # completion order does not matter
    walk.take(1, records(4, 5, 7))  # 4 follows 3 directly: no gap there
    assert walk.gaps() == [(7, 9), (10, None)]


def test_a_head_gap_when_the_first_page_does_not_start_at_1() -> None:
    walk = Walk("mobileDeviceId")
    walk.take(0, [{"mobileDeviceId": "5"}])
    walk.take(1, [{"mobileDeviceId": "6"}])
    assert walk.gaps() == [(None, 5), (6, None)]


def test_no_gap_check_for_a_single_page_or_non_numeric_ids() -> None:
    single = Walk("id")
    single.take(0, records(1, 2))
    assert single.gaps() == []
    odd = Walk("id")
    odd.take(0, records(1, "abc"))
    odd.take(1, records(3))
    assert odd.gaps() == []


def test_gap_filters_are_rsql_and_bounded() -> None:
    assert list(gap_filters("id", [(None, 5), (7, 9), (10, None)])) == ["(id<5),(id>7;id<9),(id>10)"]
    many = [(i * 10, i * 10 + 5) for i in range(MAX_INTERVALS_PER_FILTER * 2 + 1)]
    assert len(list(gap_filters("id", many))) == 3
