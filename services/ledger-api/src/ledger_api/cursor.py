"""The one cursor codec of every paginated endpoint (`next_cursor` / `cursor=`).

A cursor is the position after a page's last item, as URL-safe base64 (no padding) of compact JSON.
Opaque to clients; each endpoint chooses the JSON it needs (a device list: its sort and sort key; a
history: a version; a dry-run plan: a Kafka position) and reads it back with `decode`. A cursor that
does not decode, or decodes to the wrong shape, is a 400 `invalid_parameter` naming `cursor`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from .errors import InvalidParameter

T = TypeVar("T")

NOT_OURS = "not a cursor returned by this API"


def invalid(message: str = NOT_OURS) -> InvalidParameter:
    return InvalidParameter("cursor", message)


def encode(position: Any) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, read: Callable[[Any], T]) -> T:
    """`read(the decoded JSON)`; any error of decoding or of `read` (KeyError, TypeError,
    ValueError, …) is reported as a bad cursor."""
    try:
        return read(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError) as exc:
        # binascii.Error, UnicodeDecodeError and json's errors are ValueErrors
        raise invalid() from exc


def integer(value: Any) -> int:
    """A JSON integer of a cursor, or TypeError."""
    if not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


# The position shared by the lists ordered newest first: (time, id).


def encode_time_id(at: datetime, item_id: uuid.UUID) -> str:
    return encode({"t": at.isoformat(), "id": str(item_id)})


def decode_time_id(text: str) -> tuple[datetime, uuid.UUID]:
    return decode(text, lambda d: (datetime.fromisoformat(d["t"]), uuid.UUID(d["id"])))
