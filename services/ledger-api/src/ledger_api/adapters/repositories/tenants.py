"""Tenants and API tokens (integrations: integrations.py; master links: master_links.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import time

from ..db import Connection


@dataclass(frozen=True)
class TokenOwner:
    """Whose a presented token is (R-A3): never the token itself, only its id, name and scopes."""

    tenant_id: str
    token_id: uuid.UUID
    name: str
    scopes: tuple[str, ...]


async def tenant_for_token(conn: Connection, token_hash: str) -> str | None:
    owner = await token_owner(conn, token_hash)
    return owner.tenant_id if owner else None


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
