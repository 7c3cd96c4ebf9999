"""`/v1/conflicts` (R-M9): what the sync refused to decide, and a person's decision on it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict

from ledger_contracts import ResolveConflict, topics

from .. import cursor as cursors
from ..adapters import kafka
from ..adapters.repositories import conflicts as repo
from ..adapters.repositories import devices
from ..errors import Conflict, NotFound, Unprocessable
from . import commands
from .deps import Conn, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/conflicts",
    tags=["conflicts"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)


class Candidate(BaseModel):
    device_id: uuid.UUID
    exists: bool
    source: str | None = None
    asset_number: str | None = None
    serial_number: str | None = None
    model: str | None = None
    assigned_user: str | None = None
    bound_to: dict[str, str] | None = None


class ConflictOut(BaseModel):
    conflict_id: uuid.UUID
    status: Literal["open", "resolved"]
    rule: str | None
    message: str | None
    integration_id: str | None
    mdm_device_id: str | None
    sync_run_id: uuid.UUID | None
    candidates: list[Candidate]
    observed: dict[str, Any] | None
    recorded_at: datetime
    updated_at: datetime | None
    resolution: str | None
    resolved_device_id: uuid.UUID | None
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    next_cursor: str | None


class Resolve(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"resolution": "link", "device_id": "5f3c1d2e-0000-4000-8000-00000000abcd"},
                {"resolution": "create"},
                {"resolution": "ignore"},
            ]
        },
    )
    resolution: Literal["link", "create", "ignore"]
    device_id: uuid.UUID | None = None


class ResolveAccepted(BaseModel):
    status: Literal["accepted"]
    command_id: uuid.UUID
    conflict_id: uuid.UUID


@router.get("", response_model=ConflictPage, summary="Conflicts with their candidates, newest first")
async def list_conflicts(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    status: Literal["open", "resolved"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    reject_unknown_query(request, ("status", "cursor", "limit"))
    after = cursors.decode_time_id(cursor) if cursor else None
    items, nxt = await repo.list_page(conn, tenant, status=status, after=after, limit=limit)
    return LedgerJSONResponse({"items": items, "next_cursor": cursors.encode_time_id(*nxt) if nxt else None})


@router.get("/{conflict_id}", response_model=ConflictOut, responses={404: {"model": ErrorBody}})
async def get_conflict(conflict_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    found = await repo.get(conn, tenant, conflict_id)
    if found is None:
        raise NotFound(f"conflict {conflict_id} not found")
    return LedgerJSONResponse(found)


@router.post(
    "/{conflict_id}/resolve",
    response_model=ConflictOut,
    responses={
        202: {"model": ResolveAccepted, "description": "published; not resolved within the wait"},
        404: {"model": ErrorBody},
        409: {"model": ErrorBody},
        422: {"model": ErrorBody},
        503: {"model": ErrorBody},
    },
    summary="Decide a conflict: link to a candidate, create a new device, or ignore the MDM device",
)
async def resolve_conflict(
    conflict_id: uuid.UUID, body: Annotated[Resolve, Body()], tenant: Tenant, conn: Conn, state: State
) -> Response:
    """Published as `ResolveConflict` to the reconciler, which applies it at once; the answer is the
    resolved conflict (its `resolved_device_id` is the linked or created device)."""
    found = await repo.get(conn, tenant, conflict_id)
    if found is None:
        raise NotFound(f"conflict {conflict_id} not found")
    if found["status"] != "open":
        raise Conflict(
            f"conflict {conflict_id} was resolved ({found['resolution']})",
            {"conflict_id": str(conflict_id), "resolution": found["resolution"]},
            code="conflict_not_open",
        )
    candidates = [c["device_id"] for c in found["candidates"]]
    if body.resolution == "link" and body.device_id not in candidates:
        raise Unprocessable(
            "link needs device_id, one of the conflict's candidates",
            [{"location": "body", "field": "device_id", "candidates": [str(c) for c in candidates]}],
            code="not_a_candidate",
        )
    if body.resolution != "link" and body.device_id is not None:
        raise Unprocessable(
            f"device_id is only for link, not {body.resolution}",
            [{"location": "body", "field": "device_id"}],
        )
    command = ResolveConflict(
        tenant_id=tenant, conflict_id=conflict_id, resolution=body.resolution, device_id=body.device_id
    )
    await kafka.publish(state.producer, topics.named(topics.COMMANDS, state.settings.topic_prefix), command)
    outcome = await commands.wait_for(
        lambda: _outcome(conn, tenant, command.event_id),
        timeout=state.settings.command_wait_seconds,
        signal=state.signal,
    )
    commands.raise_if_rejected(outcome, command.event_id)
    if outcome is None:
        return LedgerJSONResponse(
            {"status": "accepted", "command_id": command.event_id, "conflict_id": conflict_id},
            status_code=202,
            headers={"Location": f"/v1/conflicts/{conflict_id}"},
        )
    return LedgerJSONResponse(await repo.get(conn, tenant, conflict_id))


async def _outcome(conn: Conn, tenant: str, command_id: uuid.UUID) -> dict[str, Any] | None:
    if (resolved := await repo.resolved_by(conn, tenant, command_id)) is not None:
        return {"conflict_id": resolved}
    return await devices.rejection(conn, tenant, command_id)
