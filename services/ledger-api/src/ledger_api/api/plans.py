"""`GET /v1/sync-runs/{id}/plan`: what a dry run would change (issue 4), item by item. An extra path
beside SPEC §8's `/v1/sync-runs/{id}`, which gives the run's counts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from .. import cursor as cursors
from ..adapters.repositories import dry_runs
from ..errors import NotFound
from .deps import Conn, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    tags=["sync runs"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)

Action = Literal["create", "update", "conflict", "mark_missing"]


class PlannedItem(BaseModel):
    action: Action
    mdm_device_id: str | None
    device_id: uuid.UUID | None
    changes: list[dict[str, Any]]  # [{field, before, after, rule}]
    conflict_rule: str | None
    message: str | None


class Plan(BaseModel):
    sync_run_id: uuid.UUID
    counts: dict[str, int]  # items per action, whole run
    items: list[PlannedItem]
    next_cursor: str | None


def _position(text: str) -> dry_runs.Position:
    def read(data: list[int]) -> dry_runs.Position:
        p, o, s = data
        return (cursors.integer(p), cursors.integer(o), cursors.integer(s))

    return cursors.decode(text, read)


@router.get(
    "/v1/sync-runs/{sync_run_id}/plan",
    response_model=Plan,
    responses={404: {"model": ErrorBody}},
    summary="The field-level diff a dry run would apply",
)
async def get_plan(
    request: Request,
    sync_run_id: uuid.UUID,
    tenant: Tenant,
    conn: Conn,
    action: Action | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Devices to create, fields to change from → to, conflicts, devices that would be marked
    missing; in the order the reconciler planned them. Empty for a run that is not a dry run."""
    reject_unknown_query(request, ("action", "cursor", "limit"))
    if not await dry_runs.belongs_to(conn, tenant, sync_run_id):
        raise NotFound(f"sync run {sync_run_id} not found")
    after = _position(cursor) if cursor else None
    items, nxt = await dry_runs.page(conn, tenant, sync_run_id, action=action, after=after, limit=limit)
    return LedgerJSONResponse(
        {
            "sync_run_id": sync_run_id,
            "counts": await dry_runs.counts(conn, tenant, sync_run_id),
            "items": items,
            "next_cursor": cursors.encode(list(nxt)) if nxt else None,
        }
    )
