"""Tenants and API tokens (integrations: integrations.py; master links: master_links.py)."""

from __future__ import annotations

from datetime import time

from ..db import Connection


async def tenant_for_token(conn: Connection, token_hash: str) -> str | None:
    tenant_id: str | None = await conn.fetchval(
        "SELECT tenant_id FROM ledger.api_tokens WHERE token_hash = $1", token_hash
    )
    return tenant_id


async def schedule_defaults(conn: Connection, tenant_id: str) -> tuple[time, str]:
    """R-M7: the tenant's daily sync time and time zone (06:00 and UTC unless seeded otherwise)."""
    row = await conn.fetchrow(
        "SELECT sync_time, time_zone FROM ledger.tenants WHERE tenant_id = $1", tenant_id
    )
    return (row["sync_time"], row["time_zone"]) if row else (time(6, 0), "UTC")
