"""Tenants, API tokens, integrations and master links."""

from __future__ import annotations

from typing import Any

import asyncpg

from ledger_contracts import MasterLinkSettings


async def tenant_for_token(conn: asyncpg.Connection, token_hash: str) -> str | None:
    return await conn.fetchval("SELECT tenant_id FROM ledger.api_tokens WHERE token_hash = $1", token_hash)


_INTEGRATIONS = """
SELECT i.integration_id, i.kind, i.display_name, i.created_at,
       (SELECT array_agg(m.master_link_id ORDER BY m.master_link_id) FROM ledger.master_links m
        WHERE m.tenant_id = i.tenant_id AND m.integration_id = i.integration_id) AS master_link_ids
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
        "state": "master_linked" if links else "connected",
        "master_link_ids": links,
        "created_at": r["created_at"],
    }


async def list_integrations(conn: asyncpg.Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(_INTEGRATIONS + " ORDER BY i.integration_id", tenant_id)
    return [_integration(r) for r in rows]


async def get_integration(
    conn: asyncpg.Connection, tenant_id: str, integration_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(_INTEGRATIONS + " AND i.integration_id = $2", tenant_id, integration_id)
    return _integration(row) if row else None


_MASTER_LINKS = """
SELECT m.master_link_id, m.settings::text AS settings, m.created_at, i.display_name, i.kind,
       r.sync_run_id AS last_sync_run_id, r.status AS last_sync_status, r.finished_at AS last_sync_finished_at
FROM ledger.master_links m
JOIN ledger.integrations i ON i.tenant_id = m.tenant_id AND i.integration_id = m.integration_id
LEFT JOIN LATERAL (
    SELECT sync_run_id, status, finished_at FROM ledger.sync_runs s
    WHERE s.tenant_id = m.tenant_id AND s.master_link_id = m.master_link_id
    ORDER BY s.created_at DESC, s.sync_run_id DESC LIMIT 1
) r ON true
WHERE m.tenant_id = $1
"""


def _master_link(r: asyncpg.Record) -> dict[str, Any]:
    settings = MasterLinkSettings.model_validate_json(r["settings"])
    last = None
    if r["last_sync_run_id"] is not None:
        last = {
            "sync_run_id": r["last_sync_run_id"],
            "status": r["last_sync_status"],
            "finished_at": r["last_sync_finished_at"],
        }
    return {
        **settings.model_dump(mode="json"),
        "integration_display_name": r["display_name"] or "-",
        "created_at": r["created_at"],
        "last_sync_run": last,
    }


async def list_master_links(conn: asyncpg.Connection, tenant_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(_MASTER_LINKS + " ORDER BY m.master_link_id", tenant_id)
    return [_master_link(r) for r in rows]


async def master_link_settings(
    conn: asyncpg.Connection, tenant_id: str, master_link_id: str
) -> MasterLinkSettings | None:
    raw = await conn.fetchval(
        "SELECT settings::text FROM ledger.master_links WHERE tenant_id = $1 AND master_link_id = $2",
        tenant_id,
        master_link_id,
    )
    return MasterLinkSettings.model_validate_json(raw) if raw is not None else None
