"""Custom field definitions (R-C4): owned by the API, one set per tenant."""

from __future__ import annotations

import json
from typing import Any

from ...domain.custom_fields import Definition
from ..db import Connection

_COLUMNS = "name, type, required, label, choices, created_at, updated_at"


async def list_all(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    """In order of creation: the order of their CSV columns."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.custom_fields WHERE tenant_id = $1 ORDER BY position", tenant_id
    )
    return [_out(r) for r in rows]


def _out(r: Any) -> dict[str, Any]:
    return {**dict(r), "choices": list(r["choices"]) if r["choices"] is not None else None}


async def definitions(conn: Connection, tenant_id: str) -> dict[str, Definition]:
    return {
        r["name"]: Definition(
            r["name"], r["type"], r["required"], tuple(r["choices"]) if r["choices"] is not None else None
        )
        for r in await list_all(conn, tenant_id)
    }


async def create(
    conn: Connection,
    tenant_id: str,
    name: str,
    type_: str,
    required: bool,
    label: str | None = None,
    choices: list[str] | None = None,
) -> dict[str, Any] | None:
    """The new definition, or None when the tenant has one of that name already."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO ledger.custom_fields (tenant_id, name, type, required, label, choices)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (tenant_id, name) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        name,
        type_,
        required,
        label,
        choices,
    )
    return _out(row) if row else None


async def get(
    conn: Connection, tenant_id: str, name: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.custom_fields WHERE tenant_id = $1 AND name = $2"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        name,
    )
    return _out(row) if row else None


async def update(
    conn: Connection,
    tenant_id: str,
    name: str,
    *,
    label: str | None,
    required: bool,
    choices: list[str] | None,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        "UPDATE ledger.custom_fields SET label = $3, required = $4, choices = $5, updated_at = now() "
        f"WHERE tenant_id = $1 AND name = $2 RETURNING {_COLUMNS}",
        tenant_id,
        name,
        label,
        required,
        choices,
    )
    assert row is not None
    return _out(row)


async def delete(conn: Connection, tenant_id: str, name: str) -> None:
    await conn.execute("DELETE FROM ledger.custom_fields WHERE tenant_id = $1 AND name = $2", tenant_id, name)


async def values_in_use(conn: Connection, tenant_id: str, name: str) -> dict[str, int]:
    """The values devices hold for the field, with how many devices hold each (the projection's view)."""
    rows = await conn.fetch(
        "SELECT custom_fields ->> $2 AS value, count(*) AS n FROM ledger.devices "
        "WHERE tenant_id = $1 AND custom_fields ->> $2 IS NOT NULL GROUP BY 1",
        tenant_id,
        name,
    )
    return {r["value"]: r["n"] for r in rows}


async def holders(conn: Connection, tenant_id: str, name: str) -> list[Any]:
    """The devices that hold a value for the field (the projection's view)."""
    rows = await conn.fetch(
        "SELECT device_id FROM ledger.devices WHERE tenant_id = $1 AND custom_fields ? $2 ORDER BY device_id",
        tenant_id,
        name,
    )
    return [r["device_id"] for r in rows]


async def current_values(conn: Connection, tenant_id: str, device_id: Any) -> dict[str, str | None]:
    """The custom field values a device holds now ({} when it does not exist)."""
    doc = await conn.fetchval(
        "SELECT custom_fields::text FROM ledger.devices WHERE tenant_id = $1 AND device_id = $2",
        tenant_id,
        device_id,
    )
    return json.loads(doc) if doc else {}
