"""Custom field definitions (R-C4): owned by the API, one set per tenant."""

from __future__ import annotations

import json
from typing import Any

from ...domain.custom_fields import Definition
from ..db import Connection

_COLUMNS = "name, type, required, created_at"


async def list_all(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    """In order of creation: the order of their CSV columns."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.custom_fields WHERE tenant_id = $1 ORDER BY position", tenant_id
    )
    return [dict(r) for r in rows]


async def definitions(conn: Connection, tenant_id: str) -> dict[str, Definition]:
    return {
        r["name"]: Definition(r["name"], r["type"], r["required"]) for r in await list_all(conn, tenant_id)
    }


async def create(
    conn: Connection, tenant_id: str, name: str, type_: str, required: bool
) -> dict[str, Any] | None:
    """The new definition, or None when the tenant has one of that name already."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO ledger.custom_fields (tenant_id, name, type, required) VALUES ($1, $2, $3, $4)
        ON CONFLICT (tenant_id, name) DO NOTHING
        RETURNING {_COLUMNS}
        """,
        tenant_id,
        name,
        type_,
        required,
    )
    return dict(row) if row else None


async def current_values(conn: Connection, tenant_id: str, device_id: Any) -> dict[str, str | None]:
    """The custom field values a device holds now ({} when it does not exist)."""
    doc = await conn.fetchval(
        "SELECT custom_fields::text FROM ledger.devices WHERE tenant_id = $1 AND device_id = $2",
        tenant_id,
        device_id,
    )
    return json.loads(doc) if doc else {}
