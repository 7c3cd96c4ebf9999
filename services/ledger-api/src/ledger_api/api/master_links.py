"""`/v1/master-links`: link an integration as master data, sync it, unlink it (R-M1, R-M7, R-S2–R-S5)."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger_contracts import MasterLinkSettings, UnlinkMasterLink, topics

from ..adapters import kafka
from ..adapters.repositories import integrations, master_links, tenants
from ..errors import Conflict, NotFound
from ..scheduler import next_daily_run
from .admin_schemas import MasterLink, MasterLinkCreated, MasterLinkList, NewMasterLink, UnlinkAccepted
from .deps import Conn, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody, SyncNow, SyncRun

router = APIRouter(
    prefix="/v1/master-links",
    tags=["master links"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
_PUBLISHES: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "the broker did not take the request; nothing changed"}
}


@router.get("", response_model=MasterLinkList, summary="Master links (R-S2)")
async def list_master_links(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    include_removed: Annotated[bool, Query(description="also the links that were unlinked")] = False,
) -> Response:
    reject_unknown_query(request, ("include_removed",))
    items = await master_links.list_all(conn, tenant, include_removed=include_removed)
    return LedgerJSONResponse({"items": items})


@router.post(
    "",
    status_code=201,
    response_model=MasterLinkCreated,
    summary="Link an integration as master data; its first full sync starts at once (R-S3)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}, **_PUBLISHES},
)
async def create_master_link(
    tenant: Tenant, conn: Conn, state: State, body: Annotated[NewMasterLink, Body()]
) -> Response:
    """One live master link per integration (409 otherwise). The response is the link with the
    sync run of its first full sync (`trigger: link_created`), then synced daily at
    `schedule.local_time` in `schedule.time_zone` (default 06:00 in the tenant's zone, R-M7)."""
    assert state.sync_requests is not None
    integration = await integrations.get(conn, tenant, body.integration_id)
    if integration is None:
        raise NotFound(
            f"integration {body.integration_id!r} not found", {"integration_id": body.integration_id}
        )
    link_id = body.master_link_id or f"ml-{uuid.uuid4().hex[:12]}"
    default_time, default_zone = await tenants.schedule_defaults(conn, tenant)
    schedule = body.schedule
    local_time = time.fromisoformat(schedule.local_time) if schedule and schedule.local_time else default_time
    zone = schedule.time_zone if schedule and schedule.time_zone else default_zone
    settings = MasterLinkSettings(
        master_link_id=link_id,
        integration_id=body.integration_id,
        mdm_kind=integration["kind"],
        matching_key=body.matching_key,
        asset_number_source=body.asset_number_source,
    )
    now = state.clock()
    async with conn.transaction():
        live = await master_links.live_link_of(conn, tenant, body.integration_id)
        if live is not None:
            raise Conflict(
                f"integration {body.integration_id!r} already has the master link {live!r}",
                {"integration_id": body.integration_id, "master_link_id": live},
                code="already_linked",
            )
        if await master_links.exists(conn, tenant, link_id):
            raise Conflict(
                f"master link {link_id!r} already exists",
                {"master_link_id": link_id},
                code="master_link_exists",
            )
        created = await master_links.create(
            conn,
            tenant,
            settings,
            local_time=local_time,
            time_zone=zone,
            next_run_at=next_daily_run(now, local_time, zone),
        )
        if not created:  # a concurrent request linked it first
            raise Conflict(
                f"integration {body.integration_id!r} was linked concurrently",
                {"integration_id": body.integration_id},
                code="already_linked",
            )
        run = await state.sync_requests(
            conn, tenant_id=tenant, link=settings, trigger="link_created", dry_run=False, now=now
        )
    link = await master_links.get(conn, tenant, link_id)
    assert link is not None
    return LedgerJSONResponse(
        {**link, "sync_run": run}, status_code=201, headers={"Location": f"/v1/master-links/{link_id}"}
    )


@router.get("/{master_link_id}", response_model=MasterLink, summary="One master link", responses=_NOT_FOUND)
async def get_master_link(master_link_id: str, request: Request, tenant: Tenant, conn: Conn) -> Response:
    """Removed links too (`status: removed`), so the outcome of an unlink stays visible."""
    reject_unknown_query(request, ())
    link = await master_links.get(conn, tenant, master_link_id)
    if link is None:
        raise NotFound(f"master link {master_link_id!r} not found")
    return LedgerJSONResponse(link)


@router.delete(
    "/{master_link_id}",
    status_code=202,
    response_model=UnlinkAccepted,
    summary="Unlink: keep the devices as manual (R-S4) or delete them (R-S5)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, **_PUBLISHES},
)
async def unlink(
    master_link_id: str,
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    keep_devices: Annotated[
        Literal["true", "false"],
        Query(
            description="required: true keeps every device of this MDM as a manual device without its "
            "MDM-only fields (R-S4); false deletes them from the ledger (R-S5)"
        ),
    ],
) -> Response:
    """The link stops syncing at once; the reconciler applies the unlink to the devices
    (`UnlinkMasterLink` on ledger.commands.v1) and their changes show in the device history."""
    reject_unknown_query(request, ("keep_devices",))
    keep = keep_devices == "true"
    now = state.clock()
    async with conn.transaction():
        link = await master_links.state(conn, tenant, master_link_id)
        if link is None:
            raise NotFound(f"master link {master_link_id!r} not found")
        command = UnlinkMasterLink(
            tenant_id=tenant,
            master_link_id=master_link_id,
            integration_id=link.settings.integration_id,
            keep_devices=keep,
        )
        removed_at = await master_links.mark_removed(
            conn, tenant, master_link_id, keep_devices=keep, command_id=command.event_id, at=now
        )
        if removed_at is None:
            raise Conflict(
                f"master link {master_link_id!r} was removed already",
                {"master_link_id": master_link_id, "removed_at": link.removed_at},
                code="already_removed",
            )
        await kafka.publish(
            state.producer, topics.named(topics.COMMANDS, state.settings.topic_prefix), command
        )
    return LedgerJSONResponse(
        {
            "status": "accepted",
            "master_link_id": master_link_id,
            "integration_id": link.settings.integration_id,
            "keep_devices": keep,
            "command_id": command.event_id,
            "removed_at": removed_at,
        },
        status_code=202,
    )


@router.post(
    "/{master_link_id}/sync",
    status_code=202,
    response_model=SyncRun,
    summary="Run a sync now (R-M7)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}, **_PUBLISHES},
)
async def sync_now(
    master_link_id: str,
    tenant: Tenant,
    conn: Conn,
    state: State,
    body: Annotated[SyncNow | None, Body()] = None,
) -> Response:
    """Records a `requested` run (trigger `manual`) and asks the connector for it; `dry_run`
    computes the changes without writing them. A run whose credentials cannot be decrypted is
    returned already `failed`, with the reason."""
    assert state.sync_requests is not None
    async with conn.transaction():
        link = await master_links.state(conn, tenant, master_link_id)
        if link is None:
            raise NotFound(f"master link {master_link_id!r} not found")
        if link.removed_at is not None:
            raise Conflict(
                f"master link {master_link_id!r} was removed",
                {"master_link_id": master_link_id},
                code="removed",
            )
        run = await state.sync_requests(
            conn,
            tenant_id=tenant,
            link=link.settings,
            trigger="manual",
            dry_run=body.dry_run if body is not None else False,
            now=state.clock(),
        )
    return LedgerJSONResponse(
        run, status_code=202, headers={"Location": f"/v1/sync-runs/{run['sync_run_id']}"}
    )
