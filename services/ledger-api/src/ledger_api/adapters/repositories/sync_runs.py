"""Sync runs: requested by the API, then advanced by the reconciler's summaries (projection)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from ..db import Connection

_COLUMNS = """
sync_run_id, master_link_id, integration_id, status, trigger, dry_run, seen, created, updated, unchanged,
conflicts, missing, errors, reported_total, requested_at, started_at, finished_at, error, created_at,
generation, skipped, warnings
"""
_COUNTS = ("seen", "created", "updated", "unchanged", "conflicts", "missing", "errors", "skipped", "warnings")


def _run(r: asyncpg.Record) -> dict[str, Any]:
    started, finished = r["started_at"], r["finished_at"]
    return {
        "sync_run_id": r["sync_run_id"],
        "master_link_id": r["master_link_id"],
        "integration_id": r["integration_id"],
        "status": r["status"],
        "generation": r["generation"],
        "trigger": r["trigger"],
        "dry_run": r["dry_run"],
        "counts": {k: r[k] for k in _COUNTS},
        "reported_total": r["reported_total"],
        "requested_at": r["requested_at"],
        "started_at": started,
        "finished_at": finished,
        "duration_seconds": (finished - started).total_seconds() if started and finished else None,
        "error": r["error"],
    }


async def create_requested(
    conn: Connection,
    *,
    sync_run_id: uuid.UUID,
    tenant_id: str,
    master_link_id: str,
    integration_id: str,
    trigger: str,
    dry_run: bool,
    requested_at: datetime,
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"""
        INSERT INTO ledger.sync_runs (sync_run_id, tenant_id, master_link_id, integration_id, status, trigger,
                                      dry_run, requested_at, created_at)
        VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7, $7)
        RETURNING {_COLUMNS}
        """,
        sync_run_id,
        tenant_id,
        master_link_id,
        integration_id,
        trigger,
        dry_run,
        requested_at,
    )
    assert row is not None  # INSERT … RETURNING returns the row
    return _run(row)


async def mark_failed(conn: Connection, sync_run_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        "UPDATE ledger.sync_runs SET status = 'failed', error = $2, finished_at = now() "
        "WHERE sync_run_id = $1 AND status = 'requested'",
        sync_run_id,
        error,
    )


async def get(conn: Connection, tenant_id: str, sync_run_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM ledger.sync_runs WHERE tenant_id = $1 AND sync_run_id = $2",
        tenant_id,
        sync_run_id,
    )
    return _run(row) if row else None


async def issues(conn: Connection, tenant_id: str, sync_run_id: uuid.UUID) -> list[dict[str, Any]]:
    """R-M14: the run's first 1,000 warnings and skipped records, in the order the reconciler listed them."""
    rows = await conn.fetch(
        "SELECT kind, mdm_device_id, field, reason FROM ledger.sync_run_issues "
        "WHERE tenant_id = $1 AND sync_run_id = $2 ORDER BY seq",
        tenant_id,
        sync_run_id,
    )
    return [dict(r) for r in rows]


async def list_page(
    conn: Connection,
    tenant_id: str,
    *,
    master_link_id: str | None,
    status: str | None,
    trigger: str | None = None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> tuple[list[dict[str, Any]], tuple[datetime, uuid.UUID] | None]:
    """Newest first; `after` is the (created_at, sync_run_id) of the last row of the previous page."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM ledger.sync_runs
        WHERE tenant_id = $1
          AND ($2::text IS NULL OR master_link_id = $2)
          AND ($3::text IS NULL OR status = $3)
          AND ($4::timestamptz IS NULL OR (created_at, sync_run_id) < ($4, $5::uuid))
          AND ($7::text IS NULL OR trigger = $7)
        ORDER BY created_at DESC, sync_run_id DESC
        LIMIT $6
        """,
        tenant_id,
        master_link_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit + 1,
        trigger,
    )
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        nxt = (rows[-1]["created_at"], rows[-1]["sync_run_id"])
    return [_run(r) for r in rows], nxt
