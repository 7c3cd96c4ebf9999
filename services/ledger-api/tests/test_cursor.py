"""The one cursor codec (`ledger_api/cursor.py`) that every paginated endpoint uses (SPEC §8)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger_api import cursor
from ledger_api.errors import InvalidParameter

pytestmark = pytest.mark.unit


def test_a_position_round_trips_and_the_text_is_url_safe() -> None:
    at, item = datetime(2026, 11, 26, 6, 0, 1, 5, tzinfo=UTC), uuid.UUID(int=7)
    text = cursor.encode_time_id(at, item)
    assert "=" not in text and "+" not in text and "/" not in text
    assert cursor.decode_time_id(text) == (at, item)
    assert cursor.decode(cursor.encode([1, 2, 3]), lambda d: [cursor.integer(v) for v in d]) == [1, 2, 3]


@pytest.mark.parametrize("junk", ["", "abc", "e30", "!!!", "é", cursor.encode({"t": "yesterday", "id": "x"})])
def test_a_cursor_this_api_did_not_make_is_a_400_naming_the_cursor(junk: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        cursor.decode_time_id(junk)
    assert exc.value.parameter == "cursor" and exc.value.status == 400


def test_a_wrong_shape_is_refused_by_the_reader() -> None:
    with pytest.raises(InvalidParameter, match="cursor"):
        cursor.decode(cursor.encode({"before": "3"}), lambda d: cursor.integer(d["before"]))
    assert cursor.decode(cursor.encode({"before": 3}), lambda d: cursor.integer(d["before"])) == 3
