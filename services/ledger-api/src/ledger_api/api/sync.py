"""Integrations, master links, "sync now" and sync runs (SPEC §8, R-S2, R-M7)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger_contracts import SyncRequested, topics, utcnow

from ..errors import InvalidParameter, NotFound, Unavailable
from ..repositories import sync_runs, tenants
from . import commands
from .deps import Conn, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody, Integration, IntegrationList, MasterLinkList, SyncNow, SyncRun, SyncRunPage

router = APIRouter(dependencies=[Depends(current_tenant)], responses={401: {"model": ErrorBody}})


@router.get("/v1/integrations", response_model=IntegrationList, tags=["integrations"])
async def list_integrations(tenant: Tenant, conn: Conn) -> Response:
    """Connected MDM accounts with their state (connected / master_linked). Never any secret."""
    return LedgerJSONResponse({"items": await tenants.list_integrations(conn, tenant)})


@router.get(
    "/v1/integrations/{integration_id}",
    response_model=Integration,
    tags=["integrations"],
    responses={404: {"model": ErrorBody}},
)
async def get_integration(integration_id: str, tenant: Tenant, conn: Conn) -> Response:
    found = await tenants.get_integration(conn, tenant, integration_id)
    if found is None:
        raise NotFound(f"integration {integration_id!r} not found")
    return LedgerJSONResponse(found)


@router.get("/v1/master-links", response_model=MasterLinkList, tags=["master links"])
async def list_master_links(tenant: Tenant, conn: Conn) -> Response:
    return LedgerJSONResponse({"items": await tenants.list_master_links(conn, tenant)})


@router.post(
    "/v1/master-links/{master_link_id}/sync",
    status_code=202,
    response_model=SyncRun,
    tags=["master links"],
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def sync_now(
    master_link_id: str,
    tenant: Tenant,
    conn: Conn,
    state: State,
    body: Annotated[SyncNow | None, Body()] = None,
) -> Response:
    """Run a sync now (R-M7): records a `requested` run and asks the connector for it."""
    settings = await tenants.master_link_settings(conn, tenant, master_link_id)
    if settings is None:
        raise NotFound(f"master link {master_link_id!r} not found")
    dry_run = body.dry_run if body is not None else False
    request = SyncRequested(
        tenant_id=tenant, sync_run_id=uuid.uuid4(), master_link=settings, trigger="manual", dry_run=dry_run
    )
    run = await sync_runs.create_requested(
        conn,
        sync_run_id=request.sync_run_id,
        tenant_id=tenant,
        master_link_id=master_link_id,
        integration_id=settings.integration_id,
        trigger=request.trigger,
        dry_run=dry_run,
        requested_at=utcnow(),
    )
    try:
        await commands.publish(
            state.producer, topics.named(topics.SYNC_REQUESTS, state.settings.topic_prefix), request
        )
    except Unavailable as exc:
        await sync_runs.mark_failed(conn, request.sync_run_id, exc.message)
        raise
    return LedgerJSONResponse(
        run, status_code=202, headers={"Location": f"/v1/sync-runs/{request.sync_run_id}"}
    )


def _runs_cursor(after: tuple[datetime, uuid.UUID]) -> str:
    raw = json.dumps({"t": after[0].isoformat(), "id": str(after[1])}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _runs_after(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(data["t"]), uuid.UUID(data["id"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidParameter("cursor", "not a cursor returned by this API") from exc


@router.get("/v1/sync-runs", response_model=SyncRunPage, tags=["sync runs"])
async def list_sync_runs(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    master_link_id: str | None = None,
    status: Literal["requested", "running", "completed", "failed"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Newest first."""
    reject_unknown_query(request, ("master_link_id", "status", "cursor", "limit"))
    after = _runs_after(cursor) if cursor else None
    items, nxt = await sync_runs.list_page(
        conn, tenant, master_link_id=master_link_id, status=status, after=after, limit=limit
    )
    return LedgerJSONResponse({"items": items, "next_cursor": _runs_cursor(nxt) if nxt else None})


@router.get(
    "/v1/sync-runs/{sync_run_id}",
    response_model=SyncRun,
    tags=["sync runs"],
    responses={404: {"model": ErrorBody}},
)
async def get_sync_run(sync_run_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    run = await sync_runs.get(conn, tenant, sync_run_id)
    if run is None:
        raise NotFound(f"sync run {sync_run_id} not found")
    return LedgerJSONResponse(run)
