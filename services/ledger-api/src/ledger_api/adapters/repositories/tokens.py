"""API tokens of a tenant (R-A3): created with a secret shown once (only its sha256 is stored),
listed without secret or hash, revoked at once. Who a presented token is: tenants.token_owner."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from ..db import Connection

SCOPES = ("read", "admin")
TOKEN_PREFIX = "dl_"
SHOWN_PREFIX_LENGTH = 8  # "dl_" and 5 characters of the random part: enough to tell tokens apart


def new_secret() -> str:
    """A fresh token: `dl_` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def shown_prefix(token: str) -> str:
    """The displayable start of a token (`dl_ab12c`), shown in lists as `dl_ab12c…`."""
    return token[:SHOWN_PREFIX_LENGTH]


_COLUMNS = "token_id, name, prefix, scopes, created_at, last_used_at, revoked_at"


def _token(row: Any) -> dict[str, Any]:
    return {
        "token_id": row["token_id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "scopes": list(row["scopes"]),
        "created_at": row["created_at"],
        "last_used_at": row["last_used_at"],
        "revoked": row["revoked_at"] is not None,
        "revoked_at": row["revoked_at"],
    }


async def create(
    conn: Connection, tenant_id: str, *, name: str, scopes: list[str], now: datetime
) -> tuple[dict[str, Any], str]:
    """The stored token (no secret) and its secret, which is never stored nor shown again."""
    secret = new_secret()
    row = await conn.fetchrow(
        f"INSERT INTO ledger.api_tokens (token_hash, tenant_id, name, prefix, scopes, created_at)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
        hash_of(secret),
        tenant_id,
        name,
        shown_prefix(secret),
        sorted(set(scopes), key=SCOPES.index),
        now,
    )
    return _token(row), secret


async def list_all(conn: Connection, tenant_id: str, *, include_revoked: bool) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM ledger.api_tokens WHERE tenant_id = $1"
        " AND ($2 OR revoked_at IS NULL) ORDER BY created_at, token_id",
        tenant_id,
        include_revoked,
    )
    return [_token(r) for r in rows]


async def get(conn: Connection, tenant_id: str, token_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.api_tokens WHERE tenant_id = $1 AND token_id = $2",
        tenant_id,
        token_id,
    )
    return _token(row) if row else None


async def lock_tenant(conn: Connection, tenant_id: str) -> None:
    """Serialises the token changes of one tenant (two revocations cannot both remove the last
    admin). Inside the caller's transaction."""
    await conn.execute("SELECT 1 FROM ledger.tenants WHERE tenant_id = $1 FOR UPDATE", tenant_id)


async def live_admin_count(conn: Connection, tenant_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM ledger.api_tokens"
            " WHERE tenant_id = $1 AND revoked_at IS NULL AND 'admin' = ANY(scopes)",
            tenant_id,
        )
    )


async def revoke(
    conn: Connection, tenant_id: str, token_id: uuid.UUID, now: datetime
) -> dict[str, Any] | None:
    """The revoked token; None when it is unknown or already revoked."""
    row = await conn.fetchrow(
        f"UPDATE ledger.api_tokens SET revoked_at = $3 WHERE tenant_id = $1 AND token_id = $2"
        f" AND revoked_at IS NULL RETURNING {_COLUMNS}",
        tenant_id,
        token_id,
        now,
    )
    return _token(row) if row else None


async def touch(conn: Connection, token_id: uuid.UUID, now: datetime, resolution: timedelta) -> None:
    """Sets last_used_at unless it is already within `resolution` of `now` (no write then)."""
    await conn.execute(
        "UPDATE ledger.api_tokens SET last_used_at = $2 WHERE token_id = $1"
        " AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - $3::interval)",
        token_id,
        now,
        resolution,
    )


async def add_hashed(
    conn: Connection, tenant_id: str, secret: str, *, name: str, scopes: list[str]
) -> tuple[str, uuid.UUID]:
    """A token whose secret the caller chose (the bootstrap file): inserted once, never changed.
    Returns the owning tenant (another tenant's means the secret is taken) and the token id."""
    row = await conn.fetchrow(
        """
        INSERT INTO ledger.api_tokens (token_hash, tenant_id, name, prefix, scopes)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (token_hash) DO UPDATE SET token_hash = excluded.token_hash
        RETURNING tenant_id, token_id
        """,
        hash_of(secret),
        tenant_id,
        name,
        shown_prefix(secret),
        scopes,
    )
    assert row is not None  # INSERT … ON CONFLICT DO UPDATE … RETURNING always returns the row
    return row["tenant_id"], row["token_id"]
