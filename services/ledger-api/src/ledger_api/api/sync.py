"""Sync runs: status, counts and timings (SPEC §8); "sync now" is in master_links.py."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from .. import cursor as cursors
from ..adapters.repositories import sync_runs
from ..errors import NotFound
from .deps import Conn, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody, SyncRunDetail, SyncRunPage

router = APIRouter(
    dependencies=[Depends(current_tenant)], responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}}
)


@router.get("/v1/sync-runs", response_model=SyncRunPage, tags=["sync runs"])
async def list_sync_runs(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    master_link_id: str | None = None,
    status: Literal["requested", "running", "completed", "failed", "refused"] | None = None,
    trigger: Literal["schedule", "manual", "link_created"] | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Newest first; `trigger` tells a scheduled run (R-M7) from "sync now" and a link's first sync."""
    reject_unknown_query(request, ("master_link_id", "status", "trigger", "cursor", "limit"))
    after = cursors.decode_time_id(cursor) if cursor else None
    items, nxt = await sync_runs.list_page(
        conn, tenant, master_link_id=master_link_id, status=status, trigger=trigger, after=after, limit=limit
    )
    return LedgerJSONResponse({"items": items, "next_cursor": cursors.encode_time_id(*nxt) if nxt else None})


@router.get(
    "/v1/sync-runs/{sync_run_id}",
    response_model=SyncRunDetail,
    tags=["sync runs"],
    responses={404: {"model": ErrorBody}},
)
async def get_sync_run(sync_run_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    """One run with its counts, generation and (R-M14) its first 1,000 warnings and skipped records.
    A `refused` run (R-M12) did nothing; `error` explains why."""
    run = await sync_runs.get(conn, tenant, sync_run_id)
    if run is None:
        raise NotFound(f"sync run {sync_run_id} not found")
    run["issues"] = await sync_runs.issues(conn, tenant, sync_run_id)
    return LedgerJSONResponse(run)
