"""Integrations (connected MDM accounts): what the API shows, and the encrypted credentials it never shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from ..db import Connection

_SELECT = """
SELECT i.integration_id, i.kind, i.display_name, i.connection::text AS connection, i.created_at,
       i.updated_at, i.credentials IS NOT NULL AS has_secret,
       (SELECT array_agg(m.master_link_id ORDER BY m.master_link_id) FROM ledger.master_links m
        WHERE m.tenant_id = i.tenant_id AND m.integration_id = i.integration_id
          AND m.removed_at IS NULL) AS master_link_ids,
       i.last_test_at, i.last_test_ok, i.last_test_failure, i.last_test_message, i.last_test_succeeded_at,
       r.sync_run_id AS run_id, r.status AS run_status, r.finished_at AS run_finished_at,
       r.error AS run_error,
       (SELECT max(s.finished_at) FROM ledger.sync_runs s
        WHERE s.tenant_id = i.tenant_id AND s.integration_id = i.integration_id
          AND s.status = 'completed') AS run_succeeded_at
FROM ledger.integrations i
LEFT JOIN LATERAL (
    SELECT s.sync_run_id, s.status, s.finished_at, s.error FROM ledger.sync_runs s
    WHERE s.tenant_id = i.tenant_id AND s.integration_id = i.integration_id
      AND s.status IN ('completed', 'failed') AND s.finished_at IS NOT NULL
    ORDER BY s.finished_at DESC LIMIT 1
) r ON true
WHERE i.tenant_id = $1 AND i.deleted_at IS NULL
"""


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def _integration(r: asyncpg.Record) -> dict[str, Any]:
    links = list(r["master_link_ids"] or [])
    # R-A1: the last attempt to reach the MDM is the later of the last connection test and the last
    # finished sync run; "connected" means it succeeded, `error` says why it did not.
    error = None
    test_at, run_at = r["last_test_at"], r["run_finished_at"]
    tested_last = test_at is not None and (run_at is None or test_at >= run_at)
    if tested_last:
        ok = bool(r["last_test_ok"])
        if not ok:
            error = {
                "kind": r["last_test_failure"],
                "message": r["last_test_message"],
                "at": test_at,
                "sync_run_id": None,
            }
    elif run_at is not None:
        ok = r["run_status"] == "completed"
        if not ok:
            error = {
                "kind": "sync_failed",
                "message": r["run_error"],
                "at": run_at,
                "sync_run_id": r["run_id"],
            }
    else:
        ok = False
    if error is not None:
        state = "error"
    elif links:
        state = "master_linked"  # R-S2
    elif ok:
        state = "connected"
    else:
        state = "untested"
    return {
        "integration_id": r["integration_id"],
        "kind": r["kind"],
        # R-S3: an integration without a display name is shown as "-".
        "display_name": r["display_name"] or "-",
        "category": "it_devices",
        "state": state,
        "master_link_ids": links,
        "has_secret": r["has_secret"],
        "connection": json.loads(r["connection"]),
        "error": error,
        "last_succeeded_at": _later(r["last_test_succeeded_at"], r["run_succeeded_at"]),
        "last_tested_at": test_at,
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
        ON CONFLICT (tenant_id, integration_id) DO UPDATE SET
            -- a deleted integration's id is free again; its R-M12 counter continues
            kind = excluded.kind, display_name = excluded.display_name, connection = excluded.connection,
            credentials = excluded.credentials, credentials_key_id = excluded.credentials_key_id,
            deleted_at = NULL, last_test_at = NULL, last_test_ok = NULL, last_test_failure = NULL,
            last_test_message = NULL, last_test_succeeded_at = NULL, created_at = now(), updated_at = now()
        WHERE ledger.integrations.deleted_at IS NOT NULL
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


async def update(
    conn: Connection,
    tenant_id: str,
    integration_id: str,
    *,
    display_name: str | None,
    connection: dict[str, Any],
    credentials: str | None,
    key_id: str | None,
) -> None:
    """R-A1: new settings and (re-sealed) credentials; the id, the kind and the link stay. A new
    secret is not known to work: the last test's outcome is forgotten."""
    await conn.execute(
        """
        UPDATE ledger.integrations
        SET display_name = $3, connection = $4::jsonb,
            credentials = coalesce($5, credentials), credentials_key_id = coalesce($6, credentials_key_id),
            last_test_at = CASE WHEN $5::text IS NULL THEN last_test_at END,
            last_test_ok = CASE WHEN $5::text IS NULL THEN last_test_ok END,
            last_test_failure = CASE WHEN $5::text IS NULL THEN last_test_failure END,
            last_test_message = CASE WHEN $5::text IS NULL THEN last_test_message END,
            updated_at = now()
        WHERE tenant_id = $1 AND integration_id = $2
        """,
        tenant_id,
        integration_id,
        display_name,
        json.dumps(connection),
        credentials,
        key_id,
    )


async def lock(conn: Connection, tenant_id: str, integration_id: str) -> asyncpg.Record | None:
    """The integration's row (kind, display name, connection, sealed credentials, generation),
    locked until the transaction ends; None when the tenant has no such integration."""
    return await conn.fetchrow(
        "SELECT integration_id, kind, display_name, connection::text AS connection, credentials,"
        " credentials_key_id, link_generation FROM ledger.integrations"
        " WHERE tenant_id = $1 AND integration_id = $2 AND deleted_at IS NULL FOR UPDATE",
        tenant_id,
        integration_id,
    )


async def delete(conn: Connection, tenant_id: str, integration_id: str, at: datetime) -> bool:
    """Hidden and its credentials dropped; the row stays (its removed links, its R-M12 counter)."""
    status = await conn.execute(
        "UPDATE ledger.integrations SET deleted_at = $3, credentials = NULL, credentials_key_id = NULL,"
        " updated_at = $3 WHERE tenant_id = $1 AND integration_id = $2 AND deleted_at IS NULL",
        tenant_id,
        integration_id,
        at,
    )
    return bool(status == "UPDATE 1")


async def record_test(
    conn: Connection,
    tenant_id: str,
    integration_id: str,
    *,
    at: datetime,
    ok: bool,
    failure: str | None,
    message: str,
) -> None:
    await conn.execute(
        """
        UPDATE ledger.integrations
        SET last_test_at = $3, last_test_ok = $4, last_test_failure = $5, last_test_message = $6,
            last_test_succeeded_at = CASE WHEN $4 THEN $3 ELSE last_test_succeeded_at END
        WHERE tenant_id = $1 AND integration_id = $2
        """,
        tenant_id,
        integration_id,
        at,
        ok,
        failure,
        message,
    )


async def next_generation(conn: Connection, tenant_id: str, integration_id: str) -> int | None:
    """R-M12: raise the (tenant, integration) counter and return it (None: no such integration)."""
    generation: int | None = await conn.fetchval(
        "UPDATE ledger.integrations SET link_generation = link_generation + 1"
        " WHERE tenant_id = $1 AND integration_id = $2 AND deleted_at IS NULL RETURNING link_generation",
        tenant_id,
        integration_id,
    )
    return generation


async def generation_still(conn: Connection, tenant_id: str, integration_id: str, generation: int) -> bool:
    """R-M12: True when `generation` is still the counter's last value; the row stays locked until
    the transaction ends, so the link operations of one integration are serialised."""
    current = await conn.fetchval(
        "SELECT link_generation FROM ledger.integrations"
        " WHERE tenant_id = $1 AND integration_id = $2 AND deleted_at IS NULL FOR UPDATE",
        tenant_id,
        integration_id,
    )
    return bool(current == generation)


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
        WHERE ledger.integrations.deleted_at IS NULL  -- deleted over the API: stays deleted
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
        "WHERE tenant_id = $1 AND integration_id = $2 AND deleted_at IS NULL",
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
