"""Conflicts (R-M9) as projected from ConflictRecorded / ConflictResolved, with their candidates."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from ..db import Connection

_COLUMNS = """
conflict_id, status, rule, message, integration_id, mdm_device_id, sync_run_id, candidates,
observed::text AS observed, recorded_at, updated_at, resolution, resolved_device_id, resolved_by, resolved_at
"""

_CANDIDATES = """
SELECT device_id, source, asset_number, serial_number, model, assigned_user, binding_integration_id,
       binding_mdm_device_id
FROM ledger.devices WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])
"""


def _candidate(device_id: uuid.UUID, r: asyncpg.Record | None) -> dict[str, Any]:
    if r is None:  # deleted since the conflict was recorded
        return {"device_id": device_id, "exists": False}
    return {
        "device_id": device_id,
        "exists": True,
        "source": r["source"],
        "asset_number": r["asset_number"],
        "serial_number": r["serial_number"],
        "model": r["model"],
        "assigned_user": r["assigned_user"],
        "bound_to": {
            "integration_id": r["binding_integration_id"],
            "mdm_device_id": r["binding_mdm_device_id"],
        }
        if r["binding_mdm_device_id"] is not None
        else None,
    }


async def _with_candidates(
    conn: Connection, tenant_id: str, rows: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    ids = {c for r in rows for c in r["candidates"]}
    found = {r["device_id"]: r for r in await conn.fetch(_CANDIDATES, tenant_id, list(ids))} if ids else {}
    return [
        {
            "conflict_id": r["conflict_id"],
            "status": r["status"],
            "rule": r["rule"],
            "message": r["message"],
            "integration_id": r["integration_id"],
            "mdm_device_id": r["mdm_device_id"],
            "sync_run_id": r["sync_run_id"],
            "candidates": [_candidate(c, found.get(c)) for c in r["candidates"]],
            "observed": json.loads(r["observed"]) if r["observed"] else None,
            "recorded_at": r["recorded_at"],
            "updated_at": r["updated_at"],
            "resolution": r["resolution"],
            "resolved_device_id": r["resolved_device_id"],
            "resolved_by": r["resolved_by"],
            "resolved_at": r["resolved_at"],
        }
        for r in rows
    ]


async def list_page(
    conn: Connection,
    tenant_id: str,
    *,
    status: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    """Newest first; `after` is the (recorded_at, conflict_id) of the previous page's last row."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM ledger.conflicts
        WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR (recorded_at, conflict_id) < ($3, $4::uuid))
        ORDER BY recorded_at DESC, conflict_id DESC
        LIMIT $5
        """,
        tenant_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
    )
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = (rows[-1]["recorded_at"], rows[-1]["conflict_id"])
    return await _with_candidates(conn, tenant_id, rows), nxt


async def get(conn: Connection, tenant_id: str, conflict_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.conflicts WHERE tenant_id = $1 AND conflict_id = $2",
        tenant_id,
        conflict_id,
    )
    return (await _with_candidates(conn, tenant_id, [row]))[0] if row else None


async def resolved_by(conn: Connection, tenant_id: str, command_id: uuid.UUID) -> uuid.UUID | None:
    """The conflict a ResolveConflict command ended, once projected."""
    conflict_id: uuid.UUID | None = await conn.fetchval(
        "SELECT conflict_id FROM ledger.conflicts WHERE resolved_by = $1 AND tenant_id = $2",
        command_id,
        tenant_id,
    )
    return conflict_id
