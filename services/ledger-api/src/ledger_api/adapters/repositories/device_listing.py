"""The device list query (SPEC §8 `GET /v1/devices`): filters, search, sort, keyset cursor, columns.

Pure: it builds SQL text and arguments and reads records; the repository runs it.
Keyset pagination orders by (sort expression, device_id), so every device appears exactly once
while walking the pages, even when many devices share a sort value.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ... import cursor
from ...errors import InvalidParameter


def _iso(expr: str) -> str:
    """A timestamptz as the API renders it (responses.py): UTC ISO 8601 with 'Z', microseconds
    only when there are any (like Python's `isoformat`); NULL stays NULL."""
    utc = f"({expr}) AT TIME ZONE 'UTC'"
    return (
        f"(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN extract(microseconds FROM {expr})"
        f"::bigint % 1000000 = 0 THEN '' ELSE to_char({utc}, '.US') END || 'Z')"
    )


# field name -> SQL expression over `ledger.devices d`, as the JSON value of the list's items:
# PostgreSQL renders each item (json_build_object), the API only joins them (no per-row Python).
FIELDS: dict[str, str] = {
    "device_id": "d.device_id",
    "version": "d.version",
    "source": "d.source",
    "asset_number": "d.asset_number",
    "serial_number": "d.serial_number",
    "device_name": "d.mdm ->> 'device_name'",
    "os": "d.os",
    "manufacturer": "d.manufacturer",
    "model": "d.model",
    "assigned_user": "d.assigned_user",
    "status": "d.status",
    "notes": "d.notes",
    "custom_fields": "d.custom_fields",
    "binding": (
        "CASE WHEN d.binding_mdm_device_id IS NULL THEN NULL ELSE json_build_object("
        "'integration_id', d.binding_integration_id, 'mdm_kind', d.binding_mdm_kind, "
        "'mdm_device_id', d.binding_mdm_device_id) END"
    ),
    "mdm": "d.mdm",
    "missing_from_mdm": "d.missing_from_mdm",
    "last_seen_at": _iso("d.last_seen_at"),
    "created_at": _iso("d.created_at"),
    "updated_at": _iso("d.updated_at"),
}
# The list is light by default: MDM-only fields are in the detail, or asked for with fields=mdm.
DEFAULT_FIELDS: tuple[str, ...] = tuple(f for f in FIELDS if f != "mdm")

SortKind = Literal["text", "timestamp", "int"]
# Not year 1: asyncpg sends datetime.min as -infinity, which would break the cursor comparison.
_NO_TIME = "'1970-01-01T00:00:00Z'::timestamptz"
# sort name -> (expression, kind). NULLs are folded into a value so the keyset compares totally;
# the asset/serial/updated_at expressions match the indexes of migration 0001.
SORTABLE: dict[str, tuple[str, SortKind]] = {
    "asset_number": ("coalesce(d.asset_number, '')", "text"),
    "serial_number": ("coalesce(d.serial_number, '')", "text"),
    "device_name": ("coalesce(d.mdm ->> 'device_name', '')", "text"),
    "os": ("coalesce(d.os, '')", "text"),
    "manufacturer": ("coalesce(d.manufacturer, '')", "text"),
    "model": ("coalesce(d.model, '')", "text"),
    "assigned_user": ("coalesce(d.assigned_user, '')", "text"),
    "status": ("coalesce(d.status, '')", "text"),
    "source": ("d.source", "text"),
    "version": ("d.version", "int"),
    "created_at": ("d.created_at", "timestamp"),
    "updated_at": ("d.updated_at", "timestamp"),
    "last_seen_at": (f"coalesce(d.last_seen_at, {_NO_TIME})", "timestamp"),
}
DEFAULT_SORT = "asset_number"
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool = False

    @classmethod
    def parse(cls, text: str | None) -> Sort:
        text = (text or DEFAULT_SORT).strip()
        descending = text.startswith("-")
        name = text.lstrip("-+")
        if name not in SORTABLE:
            raise InvalidParameter("sort", f"cannot sort by {name!r}", value=text, allowed=sorted(SORTABLE))
        return cls(name, descending)

    @property
    def token(self) -> str:
        return f"-{self.field}" if self.descending else self.field


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    q: str | None = None
    os: str | None = None
    assigned_user: str | None = None
    status: str | None = None
    missing_from_mdm: bool | None = None


def parse_fields(text: str | None) -> tuple[str, ...]:
    """`fields=a,b,c` → the columns to return (device_id always included, order kept)."""
    if text is None or not text.strip():
        return DEFAULT_FIELDS
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        raise InvalidParameter(
            "fields", f"unknown field(s): {', '.join(unknown)}", unknown=unknown, allowed=list(FIELDS)
        )
    ordered = ["device_id", *(n for n in names if n != "device_id")]
    return tuple(dict.fromkeys(ordered))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class CursorKey:
    value: Any
    device_id: uuid.UUID


def encode_cursor(sort: Sort, value: Any, device_id: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    return cursor.encode({"s": sort.token, "k": value, "id": str(device_id)})


def decode_cursor(text: str, sort: Sort) -> CursorKey:
    token, value, device_id = cursor.decode(text, lambda d: (d["s"], d["k"], uuid.UUID(d["id"])))
    if token != sort.token:
        raise cursor.invalid(f"the cursor was made for sort={token!r}, not sort={sort.token!r}")
    kind = SORTABLE[sort.field][1]
    try:
        if kind == "timestamp":
            value = datetime.fromisoformat(value)
        elif kind == "int":
            value = int(value)
        elif not isinstance(value, str):
            raise TypeError
    except (TypeError, ValueError) as exc:
        raise cursor.invalid() from exc
    return CursorKey(value, device_id)


def build_query(
    tenant_id: str,
    filters: Filters,
    sort: Sort,
    fields: tuple[str, ...],
    cursor: CursorKey | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """SQL and arguments for one page; fetches `limit + 1` rows to know whether more follow."""
    args: list[Any] = [tenant_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = ["d.tenant_id = $1"]
    if filters.source is not None:
        where.append(f"d.source = {arg(filters.source)}")
    if filters.status is not None:
        where.append(f"d.status = {arg(filters.status)}")
    if filters.missing_from_mdm is not None:
        where.append(f"d.missing_from_mdm = {arg(filters.missing_from_mdm)}")
    if filters.assigned_user is not None:
        where.append(f"lower(d.assigned_user) = lower({arg(filters.assigned_user)})")
    if filters.os is not None:
        # Prefix match: os=Windows finds "Windows (10.0.22631.4460)".
        where.append(f"lower(d.os) LIKE {arg(_like_escape(filters.os.lower()) + '%')}")
    if filters.q is not None:
        where.append(f"d.search_text LIKE {arg('%' + _like_escape(filters.q.lower()) + '%')}")
    expr, _kind = SORTABLE[sort.field]
    direction, op = ("DESC", "<") if sort.descending else ("ASC", ">")
    if cursor is not None:
        where.append(f"({expr}, d.device_id) {op} ({arg(cursor.value)}, {arg(cursor.device_id)})")
    item = ", ".join(f"'{f}', {FIELDS[f]}" for f in fields)
    sql = (
        f"SELECT json_build_object({item})::text AS _item, {expr} AS _sort_key, "
        f"d.device_id AS _device_id FROM ledger.devices d "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {expr} {direction}, d.device_id {direction} LIMIT {arg(limit + 1)}"
    )
    return sql, args


def page_json(items: list[str], next_cursor: str | None) -> bytes:
    """The response body of one page from the items PostgreSQL rendered (`_item` of build_query)."""
    return f'{{"items":[{",".join(items)}],"next_cursor":{json.dumps(next_cursor)}}}'.encode()
