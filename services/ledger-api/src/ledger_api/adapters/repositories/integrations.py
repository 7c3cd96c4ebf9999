"""Integrations (connected MDM accounts): what the API shows, and the encrypted credentials it never shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import asyncpg

from ..db import Connection

_SELECT = """
SELECT i.integration_id, i.kind, i.display_name, i.connection::text AS connection, i.created_at,
       i.updated_at, i.credentials IS NOT NULL AS has_secret,
       (SELECT array_agg(m.master_link_id ORDER BY m.master_link_id) FROM ledger.master_links m
        WHERE m.tenant_id = i.tenant_id AND m.integration_id = i.integration_id
          AND m.removed_at IS NULL) AS master_link_ids
FROM ledger.integrations i
WHERE i.tenant_id = $1
"""


def _integration(r: asyncpg.Record) -> dict[str, Any]:
    links = list(r["master_link_ids"] or [])
    return {
        "integration_id": r["integration_id"],
        "kind": r["kind"],
        # R-S3: an integration without a display name is shown as "-".
        "display_name": r["display_name"] or "-",
        "category": "it_devices",
        # R-S2: master-linked while a live master link uses it.
        "state": "master_linked" if links else "connected",
        "master_link_ids": links,
        "has_secret": r["has_secret"],
        "connection": json.loads(r["connection"]),
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


async def list_all(conn: Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(_SELECT + " ORDER BY i.integration_id", tenant_id)
    return [_integration(r) for r in rows]


async def get(conn: Connection, tenant_id: str, integration_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SELECT + " AND i.integration_id = $2", tenant_id, integration_id)
    return _integration(row) if row else None


async def create(
    conn: Connection,
    tenant_id: str,
    integration_id: str,
    *,
    kind: str,
    display_name: str | None,
    connection: dict[str, Any],
    credentials: str | None,
    key_id: str | None,
) -> bool:
    """False when the tenant already has an integration with that id."""
    inserted = await conn.fetchval(
        """
        INSERT INTO ledger.integrations
            (tenant_id, integration_id, kind, display_name, connection, credentials, credentials_key_id)
        VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
        ON CONFLICT (tenant_id, integration_id) DO NOTHING
        RETURNING true
        """,
        tenant_id,
        integration_id,
        kind,
        display_name,
        json.dumps(connection),
        credentials,
        key_id,
    )
    return bool(inserted)


async def upsert_seed(
    conn: Connection,
    tenant_id: str,
    integration_id: str,
    *,
    kind: str,
    display_name: str | None,
    connection: dict[str, Any] | None,
    credentials: str | None,
    key_id: str | None,
) -> None:
    """Bootstrap: create or update; credentials left out of the file keep the stored ones."""
    await conn.execute(
        """
        INSERT INTO ledger.integrations
            (tenant_id, integration_id, kind, display_name, connection, credentials, credentials_key_id)
        VALUES ($1, $2, $3, $4, coalesce($5::jsonb, '{}'), $6, $7)
        ON CONFLICT (tenant_id, integration_id) DO UPDATE SET
            kind = excluded.kind,
            display_name = excluded.display_name,
            connection = coalesce($5::jsonb, ledger.integrations.connection),
            credentials = coalesce($6, ledger.integrations.credentials),
            credentials_key_id = coalesce($7, ledger.integrations.credentials_key_id),
            updated_at = now()
        """,
        tenant_id,
        integration_id,
        kind,
        display_name,
        json.dumps(connection) if connection is not None else None,
        credentials,
        key_id,
    )


async def credentials_of(
    conn: Connection, tenant_id: str, integration_id: str
) -> tuple[str, str | None] | None:
    """(ciphertext, key id) of the integration's credentials; None when it has none."""
    row = await conn.fetchrow(
        "SELECT credentials, credentials_key_id FROM ledger.integrations "
        "WHERE tenant_id = $1 AND integration_id = $2",
        tenant_id,
        integration_id,
    )
    if row is None or row["credentials"] is None:
        return None
    return row["credentials"], row["credentials_key_id"]


async def under_other_keys(conn: Connection, key_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT tenant_id, integration_id, credentials, credentials_key_id FROM ledger.integrations "
        "WHERE credentials IS NOT NULL AND credentials_key_id IS DISTINCT FROM $1",
        key_id,
    )


async def replace_credentials(
    conn: Connection, tenant_id: str, integration_id: str, old: str, new: str, key_id: str
) -> None:
    await conn.execute(
        "UPDATE ledger.integrations SET credentials = $4, credentials_key_id = $5, updated_at = now() "
        "WHERE tenant_id = $1 AND integration_id = $2 AND credentials = $3",
        tenant_id,
        integration_id,
        old,
        new,
        key_id,
    )


async def reseal(conn: Connection, key_id: str, rotate: Callable[[str], str]) -> tuple[int, list[str]]:
    """Key rotation: re-encrypt under the current key what an older key sealed. Returns how many
    were resealed and the integrations no key opens (left as they are, their syncs fail clearly)."""
    done, unreadable = 0, []
    for row in await under_other_keys(conn, key_id):
        try:
            fresh = rotate(row["credentials"])
        except ValueError:
            unreadable.append(f"{row['tenant_id']}/{row['integration_id']}")
            continue
        await replace_credentials(
            conn, row["tenant_id"], row["integration_id"], row["credentials"], fresh, key_id
        )
        done += 1
    return done, unreadable
