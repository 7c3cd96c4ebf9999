"""SQL of the device CSV (R-C1, R-C2): the export cursor, what an import is checked against, and the
imports themselves."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from ...domain.device_csv import (
    LEDGER_COLUMNS,
    MDM_FIELDS,
    READ_ONLY_COLUMNS,
    ExistingDevice,
    LedgerView,
    asset_key,
)
from ..db import Connection


def export_query(custom_names: Sequence[str]) -> str:
    """Every device of tenant $1, columns in `csvio.device_columns` order; custom names are $2…
    The order (asset number, then id) follows the index `devices_by_asset_number`."""
    custom = [f"d.custom_fields ->> ${i}" for i in range(2, len(custom_names) + 2)]
    # R-I8: MDM-only fields belong to bound devices only (an unlinked device keeps none).
    mdm = [f"CASE WHEN d.binding_mdm_device_id IS NOT NULL THEN d.mdm ->> '{f}' END" for f in MDM_FIELDS]
    read_only = [f"d.{c}" for c in READ_ONLY_COLUMNS]
    columns = ["d.device_id", *(f"d.{c}" for c in LEDGER_COLUMNS), *custom, *read_only, *mdm]
    return (
        f"SELECT {', '.join(columns)} FROM ledger.devices d WHERE d.tenant_id = $1 "
        "ORDER BY coalesce(d.asset_number, ''), d.device_id"
    )


async def export_rows(
    conn: Connection, tenant_id: str, custom_names: Sequence[str], *, chunk: int = 2000
) -> AsyncIterator[list[asyncpg.Record]]:
    """The rows in chunks, from a server-side cursor (the caller holds a transaction)."""
    buffer: list[asyncpg.Record] = []
    async for record in conn.cursor(export_query(custom_names), tenant_id, *custom_names, prefetch=chunk):
        buffer.append(record)
        if len(buffer) >= chunk:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


async def ledger_view(conn: Connection, tenant_id: str, device_ids: set[uuid.UUID]) -> LedgerView:
    view = LedgerView()
    rows = await conn.fetch(
        "SELECT device_id, asset_number, custom_fields::text AS custom_fields FROM ledger.devices "
        "WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])",
        tenant_id,
        list(device_ids),
    )
    for r in rows:
        view.devices[r["device_id"]] = ExistingDevice(r["asset_number"], json.loads(r["custom_fields"]))
    # The whole tenant's asset numbers (≤ 100k short strings): normalised here, like the reconciler.
    for r in await conn.fetch(
        "SELECT device_id, asset_number FROM ledger.devices "
        "WHERE tenant_id = $1 AND asset_number IS NOT NULL",
        tenant_id,
    ):
        if (key := asset_key(r["asset_number"])) is not None:
            view.asset_owners[key] = r["device_id"]
    return view


async def record_import(
    conn: Connection,
    tenant_id: str,
    import_id: uuid.UUID,
    command_id: uuid.UUID,
    rows: int,
    requested_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO ledger.device_imports (import_id, tenant_id, command_id, rows, requested_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        import_id,
        tenant_id,
        command_id,
        rows,
        requested_at,
    )


_IMPORT = """
SELECT i.import_id, i.command_id, i.rows, i.requested_at,
       r.created, r.updated, r.unchanged, r.occurred_at AS applied_at,
       x.code AS error_code, x.message AS error, x.occurred_at AS rejected_at
FROM ledger.device_imports i
LEFT JOIN ledger.import_results r ON r.import_id = i.import_id AND r.tenant_id = i.tenant_id
LEFT JOIN ledger.command_rejections x ON x.command_id = i.command_id AND x.tenant_id = i.tenant_id
WHERE i.tenant_id = $1 AND i.import_id = $2
"""


def _import(r: asyncpg.Record) -> dict[str, Any]:
    status = "applied" if r["applied_at"] else "rejected" if r["rejected_at"] else "pending"
    finished: datetime | None = r["applied_at"] or r["rejected_at"]
    return {
        "import_id": r["import_id"],
        "command_id": r["command_id"],
        "status": status,
        "rows": r["rows"],
        "created": r["created"],
        "updated": r["updated"],
        "unchanged": r["unchanged"],
        "error": {"code": r["error_code"], "message": r["error"]} if r["error_code"] else None,
        "requested_at": r["requested_at"],
        "finished_at": finished,
    }


async def get_import(conn: Connection, tenant_id: str, import_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(_IMPORT, tenant_id, import_id)
    return _import(row) if row else None
