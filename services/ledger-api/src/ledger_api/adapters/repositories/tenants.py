"""Tenants and API tokens (integrations: integrations.py; master links: master_links.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time
from typing import Any

from ..db import Connection


@dataclass(frozen=True)
class TokenOwner:
    """Whose a presented token is (R-A3): never the token itself, only its id, name and scopes."""

    tenant_id: str
    token_id: uuid.UUID
    name: str
    scopes: tuple[str, ...]


async def token_owner(conn: Connection, token_hash: str) -> TokenOwner | None:
    """The owner of a live (not revoked) token; a revoked token is unknown at once (R-A3)."""
    row = await conn.fetchrow(
        "SELECT tenant_id, token_id, name, scopes FROM ledger.api_tokens"
        " WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash,
    )
    if row is None:
        return None
    return TokenOwner(row["tenant_id"], row["token_id"], row["name"], tuple(row["scopes"]))


async def schedule_defaults(conn: Connection, tenant_id: str) -> tuple[time, str]:
    """R-M7: the tenant's daily sync time and time zone (06:00 and UTC unless seeded otherwise)."""
    row = await conn.fetchrow(
        "SELECT sync_time, time_zone FROM ledger.tenants WHERE tenant_id = $1", tenant_id
    )
    return (row["sync_time"], row["time_zone"]) if row else (time(6, 0), "UTC")


# --- tenant settings (`/v1/tenant`, issue 10) ------------------------------------------------------


def _settings(row: Any) -> dict[str, Any]:
    return {
        "tenant_id": row["tenant_id"],
        "name": row["name"],
        "time_zone": row["time_zone"],
        "default_sync_time": row["sync_time"].strftime("%H:%M"),
        "created_at": row["created_at"],
    }


async def get_settings(
    conn: Connection, tenant_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT tenant_id, name, time_zone, sync_time, created_at FROM ledger.tenants WHERE tenant_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
    )
    return _settings(row) if row else None


async def update_settings(
    conn: Connection, tenant_id: str, *, name: str | None, time_zone: str | None, sync_time: time | None
) -> dict[str, Any] | None:
    """Changes the given settings (None: unchanged). Existing master links keep their own schedule."""
    row = await conn.fetchrow(
        "UPDATE ledger.tenants SET name = coalesce($2, name), time_zone = coalesce($3, time_zone),"
        " sync_time = coalesce($4, sync_time) WHERE tenant_id = $1"
        " RETURNING tenant_id, name, time_zone, sync_time, created_at",
        tenant_id,
        name,
        time_zone,
        sync_time,
    )
    return _settings(row) if row else None


async def create_tenant(
    conn: Connection, tenant_id: str, *, name: str, time_zone: str, sync_time: time
) -> bool:
    """False when the tenant exists already (nothing changed)."""
    inserted = await conn.fetchval(
        "INSERT INTO ledger.tenants (tenant_id, name, time_zone, sync_time) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (tenant_id) DO NOTHING RETURNING true",
        tenant_id,
        name,
        time_zone,
        sync_time,
    )
    return bool(inserted)
