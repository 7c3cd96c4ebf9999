"""`GET /v1/sync-runs/{id}/plan`: what a dry run would change (issue 4), item by item. An extra path
beside SPEC §8's `/v1/sync-runs/{id}`, which gives the run's counts."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from ..adapters.repositories import dry_runs
from ..errors import InvalidParameter, NotFound
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


def _cursor(position: dry_runs.Position) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode().rstrip("=")


def _position(cursor: str) -> dry_runs.Position:
    try:
        p, o, s = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not all(isinstance(v, int) for v in (p, o, s)):
            raise TypeError
        return (p, o, s)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidParameter("cursor", "not a cursor returned by this API") from exc


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
            "next_cursor": _cursor(nxt) if nxt else None,
        }
    )
