"""Devices, their history, and the outcome of manual commands."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from ..db import Connection
from . import device_listing as listing

_DETAIL = """
SELECT device_id, tenant_id, version, source, asset_number, serial_number, os, manufacturer, model,
       assigned_user, status, notes, custom_fields::text AS custom_fields, binding_integration_id,
       binding_mdm_kind, binding_mdm_device_id, mdm::text AS mdm, missing_from_mdm, last_seen_at,
       created_at, updated_at, other_bindings::text AS other_bindings, field_origins::text AS field_origins
FROM ledger.devices WHERE tenant_id = $1 AND device_id = $2
"""


def _detail(r: asyncpg.Record) -> dict[str, Any]:
    bound = r["binding_mdm_device_id"] is not None
    return {
        "device_id": r["device_id"],
        "version": r["version"],
        "source": r["source"],
        "asset_number": r["asset_number"],
        "serial_number": r["serial_number"],
        "os": r["os"],
        "manufacturer": r["manufacturer"],
        "model": r["model"],
        "assigned_user": r["assigned_user"],
        "status": r["status"],
        "notes": r["notes"],
        "custom_fields": json.loads(r["custom_fields"]),
        "binding": {
            "integration_id": r["binding_integration_id"],
            "mdm_kind": r["binding_mdm_kind"],
            "mdm_device_id": r["binding_mdm_device_id"],
        }
        if bound
        else None,
        # R-S1 / R-I8: MDM-only fields are shown for bound devices only.
        "mdm": json.loads(r["mdm"]) if bound and r["mdm"] is not None else None,
        "missing_from_mdm": r["missing_from_mdm"],
        "last_seen_at": r["last_seen_at"],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
        # R-P2/R-P4: every other MDM bound to the device, with its own state; R-P3: each synced
        # field's origin MDM (empty while one MDM at most is bound)
        "other_bindings": json.loads(r["other_bindings"]) if bound else [],
        "field_origins": json.loads(r["field_origins"]) if bound else {},
    }


async def get(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(_DETAIL, tenant_id, device_id)
    return _detail(row) if row else None


async def list_page(
    conn: Connection,
    tenant_id: str,
    filters: listing.Filters,
    sort: listing.Sort,
    fields: tuple[str, ...],
    cursor: listing.CursorKey | None,
    limit: int,
) -> bytes:
    """One page as the JSON body `{"items": [...], "next_cursor": ...}` (items rendered by PostgreSQL)."""
    sql, args = listing.build_query(tenant_id, filters, sort, fields, cursor, limit)
    rows = await conn.fetch(sql, *args)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = listing.encode_cursor(sort, last["_sort_key"], last["_device_id"])
    return listing.page_json([r["_item"] for r in rows], next_cursor)


async def history(
    conn: Connection,
    tenant_id: str,
    device_id: uuid.UUID,
    *,
    before_version: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Newest first. Kept after a delete: the history of a deleted device stays readable."""
    rows = await conn.fetch(
        """
        SELECT event_id, version, change, changes::text AS changes, provenance::text AS provenance,
               previous_source, occurred_at
        FROM ledger.device_history
        WHERE tenant_id = $1 AND device_id = $2 AND ($3::integer IS NULL OR version < $3)
        ORDER BY version DESC LIMIT $4
        """,
        tenant_id,
        device_id,
        before_version,
        limit,
    )
    return [
        {
            "event_id": r["event_id"],
            "version": r["version"],
            "change": r["change"],
            "changes": json.loads(r["changes"]),
            "provenance": json.loads(r["provenance"]),
            "previous_source": r["previous_source"],
            "occurred_at": r["occurred_at"],
        }
        for r in rows
    ]


async def has_history(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger.device_history WHERE tenant_id = $1 AND device_id = $2)",
            tenant_id,
            device_id,
        )
    )


async def binding_of(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> tuple[bool, bool]:
    """(exists, bound) for a device of the tenant."""
    row = await conn.fetchrow(
        "SELECT binding_mdm_device_id IS NOT NULL AS bound FROM ledger.devices "
        "WHERE tenant_id = $1 AND device_id = $2",
        tenant_id,
        device_id,
    )
    return (row is not None, bool(row and row["bound"]))


async def deletable(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> tuple[bool, bool]:
    """(exists, reported): `reported` = bound to an MDM device that its MDM still reports (R-S6);
    a bound device that is `missing_from_mdm` is retired and may be deleted (R-S8)."""
    row = await conn.fetchrow(
        "SELECT binding_mdm_device_id IS NOT NULL AND NOT missing_from_mdm AS reported FROM ledger.devices "
        "WHERE tenant_id = $1 AND device_id = $2",
        tenant_id,
        device_id,
    )
    return (row is not None, bool(row and row["reported"]))


async def command_outcome(conn: Connection, tenant_id: str, command_id: uuid.UUID) -> dict[str, Any] | None:
    """The projected change a command caused, if any yet."""
    row = await conn.fetchrow(
        "SELECT device_id, version, change FROM ledger.device_history "
        "WHERE command_id = $1 AND tenant_id = $2",
        command_id,
        tenant_id,
    )
    return dict(row) if row else None


async def rejection(conn: Connection, tenant_id: str, command_id: uuid.UUID) -> dict[str, Any] | None:
    """`{"rejected": {code, message, device_id}}` when the reconciler refused the command."""
    row = await conn.fetchrow(
        "SELECT code, message, device_id FROM ledger.command_rejections "
        "WHERE command_id = $1 AND tenant_id = $2",
        command_id,
        tenant_id,
    )
    return {"rejected": dict(row)} if row else None
