"""`/v1/master-links`: link an integration as master data, sync it, unlink it (R-M1, R-M7, R-S2–R-S5)."""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger_contracts import Event, MasterLinkChanged, MasterLinkSettings, UnlinkMasterLink, topics

from ..adapters import kafka
from ..adapters.repositories import audit, integrations, master_links, sync_runs, tenants
from ..errors import Conflict, NotFound, Unprocessable
from ..scheduler import next_daily_run
from .admin_schemas import (
    ApplySettings,
    LinkPreview,
    MasterLink,
    MasterLinkCreated,
    MasterLinkList,
    MasterLinkPatch,
    NewMasterLink,
    SettingsChange,
    SettingsPlan,
    UnlinkAccepted,
)
from .deps import AppState, Conn, CurrentActor, State, Tenant, current_tenant, reject_unknown_query
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
    tenant: Tenant, conn: Conn, state: State, actor: CurrentActor, body: Annotated[NewMasterLink, Body()]
) -> Response:
    """One live master link per integration (409 otherwise). The response is the link with the
    sync run of its first full sync (`trigger: link_created`), then synced daily at
    `schedule.local_time` in `schedule.time_zone` (default 06:00 in the tenant's zone, R-M7)."""
    assert state.sync_requests is not None
    settings = await _proposed(conn, tenant, body)
    link_id = settings.master_link_id
    default_time, default_zone = await tenants.schedule_defaults(conn, tenant)
    schedule = body.schedule
    local_time = time.fromisoformat(schedule.local_time) if schedule and schedule.local_time else default_time
    zone = schedule.time_zone if schedule and schedule.time_zone else default_zone
    now = state.clock()
    await _creatable(conn, tenant, body.integration_id, link_id)  # first without a number: none skipped
    generation = await _reserve_generation(conn, tenant, body.integration_id)
    settings = settings.model_copy(update={"generation": generation})
    async with conn.transaction():
        await _hold_generation(conn, tenant, body.integration_id, generation)
        await _creatable(conn, tenant, body.integration_id, link_id)
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
        link = await master_links.get(conn, tenant, link_id)
        assert link is not None
        # R-M12: the reconciler learns the new generation before any run of it can arrive; a run that
        # overtakes it (another topic) waits for it there. R-P1: it also learns the link order (the
        # default MDM priority) from it: the command carries the row's created_at, the time
        # GET /v1/mdm-priority orders by.
        announced = MasterLinkChanged(
            tenant_id=tenant, change="created", master_link=settings, occurred_at=link["created_at"]
        )
        await _command(state, announced)
        run = await state.sync_requests(
            conn, tenant_id=tenant, link=settings, trigger="link_created", dry_run=False, now=now
        )
        link = await master_links.get(conn, tenant, link_id)
        assert link is not None
        await audit.record(conn, tenant, actor, "master_link.create", "master_link", link_id, None, link)
    return LedgerJSONResponse(
        {**link, "sync_run": run}, status_code=201, headers={"Location": f"/v1/master-links/{link_id}"}
    )


@router.post(
    "/preview",
    status_code=202,
    response_model=LinkPreview,
    summary="Preview a master link before creating it: a dry run with its settings (R-M1, R-I5)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}, **_PUBLISHES},
)
async def preview_master_link(
    tenant: Tenant, conn: Conn, state: State, actor: CurrentActor, body: Annotated[NewMasterLink, Body()]
) -> Response:
    """Asks the connector for a dry run (`SyncRequested(dry_run=true)`) with the settings the link
    would have; the reconciler plans against the ledger and changes nothing. The plan carries no
    link generation (0): it binds, unbinds and deletes nothing, so it needs no place in R-M12's
    order. Create the link with the same `master_link_id` once the plan looks right."""
    assert state.sync_requests is not None
    settings = await _proposed(conn, tenant, body)
    link_id = settings.master_link_id
    await _creatable(conn, tenant, body.integration_id, link_id)
    async with conn.transaction():
        run = await state.sync_requests(
            conn, tenant_id=tenant, link=settings, trigger="manual", dry_run=True, now=state.clock()
        )
        out: dict[str, Any] = {
            "master_link_id": link_id,
            "integration_id": body.integration_id,
            "matching_key": settings.matching_key.model_dump(),
            "asset_number_source": settings.asset_number_source,
            "plan_url": f"/v1/sync-runs/{run['sync_run_id']}/plan",
            "sync_run": run,
        }
        await audit.record(conn, tenant, actor, "master_link.preview", "master_link", link_id, None, out)
    return LedgerJSONResponse(out, status_code=202, headers={"Location": out["plan_url"]})


async def _proposed(conn: Conn, tenant: str, body: NewMasterLink) -> MasterLinkSettings:
    """The settings the link of `body` would have (404 for an unknown integration); its id is
    the body's or a new one. Shared by creating a link and previewing it."""
    integration = await integrations.get(conn, tenant, body.integration_id)
    if integration is None:
        raise NotFound(
            f"integration {body.integration_id!r} not found", {"integration_id": body.integration_id}
        )
    return MasterLinkSettings(
        master_link_id=body.master_link_id or f"ml-{uuid.uuid4().hex[:12]}",
        integration_id=body.integration_id,
        mdm_kind=integration["kind"],
        matching_key=body.matching_key,
        asset_number_source=body.asset_number_source,
    )


async def _creatable(conn: Conn, tenant: str, integration_id: str, link_id: str) -> None:
    """409 when the integration already has a live link or the link id is taken."""
    live = await master_links.live_link_of(conn, tenant, integration_id)
    if live is not None:
        raise Conflict(
            f"integration {integration_id!r} already has the master link {live!r}",
            {"integration_id": integration_id, "master_link_id": live},
            code="already_linked",
        )
    if await master_links.exists(conn, tenant, link_id):
        raise Conflict(
            f"master link {link_id!r} already exists",
            {"master_link_id": link_id},
            code="master_link_exists",
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
    actor: CurrentActor,
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
    found = await master_links.state(conn, tenant, master_link_id)
    if found is None:
        raise NotFound(f"master link {master_link_id!r} not found")
    if found.removed_at is not None:
        raise Conflict(
            f"master link {master_link_id!r} was removed already",
            {"master_link_id": master_link_id, "removed_at": found.removed_at},
            code="already_removed",
        )
    # R-M12: the unlink ends the link's generation: it carries the link's last + 1.
    generation = await _reserve_generation(conn, tenant, found.settings.integration_id)
    async with conn.transaction():
        await _hold_generation(conn, tenant, found.settings.integration_id, generation)
        link = await master_links.state(conn, tenant, master_link_id, for_update=True)
        if link is None:
            raise NotFound(f"master link {master_link_id!r} not found")
        if link.removed_at is not None:
            raise Conflict(
                f"master link {master_link_id!r} was removed already",
                {"master_link_id": master_link_id, "removed_at": link.removed_at},
                code="already_removed",
            )
        before = await master_links.get(conn, tenant, master_link_id)
        command = UnlinkMasterLink(
            tenant_id=tenant,
            master_link_id=master_link_id,
            integration_id=link.settings.integration_id,
            keep_devices=keep,
            generation=generation,
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
        await _command(state, command)
        await audit.record(
            conn,
            tenant,
            actor,
            "master_link.unlink",
            "master_link",
            master_link_id,
            before,
            {"keep_devices": keep, "generation": generation, "command_id": str(command.event_id)},
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
    actor: CurrentActor,
    body: Annotated[SyncNow | None, Body()] = None,
) -> Response:
    """Records a `requested` run (trigger `manual`) and asks the connector for it; `dry_run`
    computes the changes without writing them. A run whose credentials cannot be decrypted is
    returned already `failed`, with the reason. 409 `removed` or `paused` for a link in that state."""
    assert state.sync_requests is not None
    async with conn.transaction():
        link = await _live(conn, tenant, master_link_id)
        if link.paused_at is not None:
            raise Conflict(
                f"master link {master_link_id!r} is paused: resume it first (POST …/resume)",
                {"master_link_id": master_link_id, "status": "paused", "paused_at": link.paused_at},
                code="paused",
            )
        run = await state.sync_requests(
            conn,
            tenant_id=tenant,
            link=link.settings,
            trigger="manual",
            dry_run=body.dry_run if body is not None else False,
            now=state.clock(),
        )
        await audit.record(
            conn,
            tenant,
            actor,
            "master_link.sync_now",
            "master_link",
            master_link_id,
            None,
            {"sync_run_id": str(run["sync_run_id"]), "dry_run": run["dry_run"], "status": run["status"]},
        )
    return LedgerJSONResponse(
        run, status_code=202, headers={"Location": f"/v1/sync-runs/{run['sync_run_id']}"}
    )


async def _command(state: AppState, event: Event) -> None:
    """Publish to ledger.commands.v1 inside the caller's transaction: a refused publish raises
    (503) and rolls the change back (no outbox: the API answers only after the broker acked)."""
    await kafka.publish(state.producer, topics.named(topics.COMMANDS, state.settings.topic_prefix), event)


async def _reserve_generation(conn: Conn, tenant: str, integration_id: str) -> int:
    """R-M12: the next generation of the integration, raised and COMMITTED before the change's own
    transaction. A number is thus never handed out twice: if the change then fails (a refused
    publish, a 409) the number is simply skipped, and if a publish was acknowledged but its commit
    failed, the orphan command's number is not reused for another change. The reconciler needs
    increasing numbers, not consecutive ones."""
    async with conn.transaction():
        generation = await integrations.next_generation(conn, tenant, integration_id)
    if generation is None:
        raise NotFound(f"integration {integration_id!r} not found", {"integration_id": integration_id})
    return generation


async def _hold_generation(conn: Conn, tenant: str, integration_id: str, generation: int) -> None:
    """Inside the change's transaction: lock the integration and check that no later generation was
    handed out meanwhile (a concurrent link change would otherwise be published out of order)."""
    if not await integrations.generation_still(conn, tenant, integration_id, generation):
        raise Conflict(
            f"the master link of integration {integration_id!r} was changed concurrently: try again",
            {"integration_id": integration_id},
            code="concurrent_change",
        )


async def _live(conn: Conn, tenant: str, master_link_id: str) -> master_links.LinkState:
    """The link, locked for the transaction; 404 unknown (or another tenant's), 409 removed."""
    link = await master_links.state(conn, tenant, master_link_id, for_update=True)
    if link is None:
        raise NotFound(f"master link {master_link_id!r} not found")
    if link.removed_at is not None:
        raise Conflict(
            f"master link {master_link_id!r} was removed",
            {"master_link_id": master_link_id, "status": "removed"},
            code="removed",
        )
    return link


@router.patch(
    "/{master_link_id}",
    response_model=MasterLink,
    summary="Change the daily sync time (R-A2, R-M7)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def update_master_link(
    master_link_id: str,
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[MasterLinkPatch, Body()],
) -> Response:
    """`schedule.local_time` (HH:MM) and/or `schedule.time_zone` (IANA); what is left out stays.
    `next_run_at` moves at once to the next occurrence of the new time after now, and the scheduler
    runs the link then (not at the old time). A paused link keeps its new time for its resume."""
    reject_unknown_query(request, ())
    async with conn.transaction():
        link = await _live(conn, tenant, master_link_id)
        before = await master_links.get(conn, tenant, master_link_id)
        assert before is not None and link.local_time is not None and link.time_zone is not None
        given = body.schedule
        local_time = time.fromisoformat(given.local_time) if given.local_time else link.local_time
        zone = given.time_zone or link.time_zone
        following = None if link.paused_at is not None else next_daily_run(state.clock(), local_time, zone)
        await master_links.set_schedule(
            conn, tenant, master_link_id, local_time=local_time, time_zone=zone, next_run_at=following
        )
        after = await master_links.get(conn, tenant, master_link_id)
        await audit.record(
            conn,
            tenant,
            actor,
            "master_link.update",
            "master_link",
            master_link_id,
            {"schedule": before["schedule"]},
            {"schedule": after["schedule"] if after else None},
        )
    return LedgerJSONResponse(after)


@router.post(
    "/{master_link_id}/pause",
    response_model=MasterLink,
    summary="Pause: no scheduled sync, no sync now, until resumed (R-A2)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}},
)
async def pause(
    master_link_id: str, request: Request, tenant: Tenant, conn: Conn, state: State, actor: CurrentActor
) -> Response:
    """Idempotent. Devices stay bound; runs already requested finish."""
    return await _pause_or_resume(master_link_id, request, tenant, conn, state, actor, pause=True)


@router.post(
    "/{master_link_id}/resume",
    response_model=MasterLink,
    summary="Resume a paused link: scheduled again from its next local time (R-A2)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}},
)
async def resume(
    master_link_id: str, request: Request, tenant: Tenant, conn: Conn, state: State, actor: CurrentActor
) -> Response:
    """Idempotent. The next run is the next occurrence of its local time after now (missed mornings
    are not caught up: run `…/sync` for that)."""
    return await _pause_or_resume(master_link_id, request, tenant, conn, state, actor, pause=False)


async def _pause_or_resume(
    master_link_id: str,
    request: Request,
    tenant: str,
    conn: Conn,
    state: AppState,
    actor: Any,
    *,
    pause: bool,
) -> Response:
    reject_unknown_query(request, ())
    now = state.clock()
    async with conn.transaction():
        link = await _live(conn, tenant, master_link_id)
        assert link.local_time is not None and link.time_zone is not None
        if (link.paused_at is not None) != pause:
            await master_links.set_paused(
                conn,
                tenant,
                master_link_id,
                paused_at=now if pause else None,
                next_run_at=None if pause else next_daily_run(now, link.local_time, link.time_zone),
            )
            after = await master_links.get(conn, tenant, master_link_id)
            assert after is not None
            await audit.record(
                conn,
                tenant,
                actor,
                "master_link.pause" if pause else "master_link.resume",
                "master_link",
                master_link_id,
                {"status": "active" if pause else "paused"},
                {"status": after["status"], "next_run_at": after["schedule"]["next_run_at"]},
            )
        else:
            after = await master_links.get(conn, tenant, master_link_id)
    return LedgerJSONResponse(after)


def _matching(settings: MasterLinkSettings) -> dict[str, Any]:
    return {
        "matching_key": settings.matching_key.model_dump(mode="json"),
        "asset_number_source": settings.asset_number_source,
    }


def _plan_status(plan: master_links.SettingsPlan, generation: int) -> str:
    if plan.applied_at is not None:
        return "applied"
    if plan.base_generation != generation:
        return "stale"
    # A dry run that ended without a plan (failed, or refused as superseded: R-M12) ends the plan
    # too; it is never left "planning".
    return {"completed": "ready", "failed": "failed", "refused": "refused"}.get(
        plan.run_status or "", "planning"
    )


@router.post(
    "/{master_link_id}/settings/plan",
    status_code=202,
    response_model=SettingsPlan,
    summary="Plan a change of matching key or asset-number source: a dry run (R-A2, R-M15)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}, **_PUBLISHES},
)
async def plan_settings(
    master_link_id: str,
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[SettingsChange, Body()],
) -> Response:
    """Asks for a dry run (`SyncRequested(dry_run=true)`) with the proposed settings and the link's
    current generation; nothing changes. Follow `sync_run` until `completed`, read what would
    change at `plan_url` (creates, field changes, conflicts such as shared device names, devices
    that would be marked missing), then apply it with `…/settings/apply` and the `plan_id`."""
    reject_unknown_query(request, ())
    assert state.sync_requests is not None
    now = state.clock()
    async with conn.transaction():
        link = await _live(conn, tenant, master_link_id)
        current = link.settings
        update: dict[str, Any] = {}
        if body.matching_key is not None:
            update["matching_key"] = body.matching_key
        if body.asset_number_source is not None:
            update["asset_number_source"] = body.asset_number_source
        proposed = current.model_copy(update=update)
        if _matching(proposed) == _matching(current):
            raise Unprocessable(
                "the body changes neither matching_key nor asset_number_source",
                [{"location": "body", "field": "body", "message": "nothing to plan"}],
                code="empty_patch",
            )
        run = await state.sync_requests(
            conn, tenant_id=tenant, link=proposed, trigger="manual", dry_run=True, now=now
        )
        plan_id = run["sync_run_id"]
        await master_links.create_plan(
            conn, tenant, plan_id, proposed, base_generation=current.generation, at=now
        )
        plan = await master_links.plan(conn, tenant, plan_id)
        assert plan is not None
        out = _plan_out(plan, current, run)
        await audit.record(
            conn,
            tenant,
            actor,
            "master_link.settings_plan",
            "master_link",
            master_link_id,
            out["current"],
            {**out["proposed"], "plan_id": str(plan_id)},
        )
    return LedgerJSONResponse(out, status_code=202, headers={"Location": out["plan_url"]})


def _plan_out(
    plan: master_links.SettingsPlan, current: MasterLinkSettings, run: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "master_link_id": plan.master_link_id,
        "status": _plan_status(plan, current.generation),
        "current": _matching(current),
        "proposed": _matching(plan.settings),
        "base_generation": plan.base_generation,
        "plan_url": f"/v1/sync-runs/{plan.plan_id}/plan",
        "sync_run": run,
        "created_at": plan.created_at,
        "applied_at": plan.applied_at,
    }


async def _applicable(
    conn: Conn, tenant: str, master_link_id: str, plan_id: uuid.UUID
) -> master_links.LinkState:
    """The live link (locked) whose plan `plan_id` is ready to apply; 404 / 409 otherwise."""
    link = await _live(conn, tenant, master_link_id)
    plan = await master_links.plan(conn, tenant, plan_id, for_update=True)
    if plan is None or plan.master_link_id != master_link_id:
        raise NotFound(
            f"settings plan {plan_id} of master link {master_link_id!r} not found",
            {"plan_id": str(plan_id)},
        )
    status = _plan_status(plan, link.settings.generation)
    if status != "ready":
        code = {"applied": "plan_applied", "stale": "plan_stale"}.get(status, "plan_not_ready")
        run = await sync_runs.get(conn, tenant, plan.plan_id) if status in ("failed", "refused") else None
        error = (run or {}).get("error")
        ended = f"its dry run was {status}" + (f": {error}" if error else "")
        why = {
            "applied": "was applied already",
            "stale": "was made before the link's settings last changed: plan again",
            "failed": f"cannot be applied, {ended}; plan again",
            "refused": f"cannot be applied, {ended}; plan again",
            "planning": f"is not ready: its dry run is {plan.run_status or 'requested'}",
        }[status]
        raise Conflict(
            f"settings plan {plan.plan_id} {why}",
            {"plan_id": str(plan.plan_id), "status": status, "sync_run_status": plan.run_status}
            | ({"sync_run_error": error} if error else {}),
            code=code,
        )
    return link


@router.post(
    "/{master_link_id}/settings/apply",
    response_model=MasterLink,
    summary="Apply a planned change of matching settings (R-A2, R-M12)",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}, **_PUBLISHES},
)
async def apply_settings(
    master_link_id: str,
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[ApplySettings, Body()],
) -> Response:
    """The plan's dry run must be `completed` (409 `plan_not_ready` otherwise) and the link
    unchanged since it was planned (409 `plan_stale`: plan again). Raises the link's generation and
    publishes `MasterLinkChanged(change="settings_changed")`: runs requested before are refused by
    the reconciler as superseded, with a recorded reason; the next run uses the new settings."""
    reject_unknown_query(request, ())
    now = state.clock()
    async with conn.transaction():  # checked first without a number: a refused apply skips none
        found = await _applicable(conn, tenant, master_link_id, body.plan_id)
    generation = await _reserve_generation(conn, tenant, found.settings.integration_id)
    async with conn.transaction():
        await _hold_generation(conn, tenant, found.settings.integration_id, generation)
        link = await _applicable(conn, tenant, master_link_id, body.plan_id)
        plan = await master_links.plan(conn, tenant, body.plan_id)
        assert plan is not None
        before = await master_links.get(conn, tenant, master_link_id)
        settings = plan.settings.model_copy(update={"generation": generation})
        await master_links.replace_settings(conn, tenant, settings)
        await master_links.mark_plan_applied(conn, tenant, plan.plan_id, now)
        await _command(
            state, MasterLinkChanged(tenant_id=tenant, change="settings_changed", master_link=settings)
        )
        after = await master_links.get(conn, tenant, master_link_id)
        assert before is not None and after is not None
        await audit.record(
            conn,
            tenant,
            actor,
            "master_link.settings_apply",
            "master_link",
            master_link_id,
            {**_matching(link.settings), "generation": link.settings.generation},
            {**_matching(settings), "generation": generation, "plan_id": str(plan.plan_id)},
        )
    return LedgerJSONResponse(after)


@router.get(
    "/{master_link_id}/settings/plans/{plan_id}",
    response_model=SettingsPlan,
    summary="A settings plan and whether it can be applied (R-A2)",
    responses=_NOT_FOUND,
)
async def get_settings_plan(
    master_link_id: str, plan_id: uuid.UUID, request: Request, tenant: Tenant, conn: Conn
) -> Response:
    reject_unknown_query(request, ())
    link = await master_links.state(conn, tenant, master_link_id)
    plan = await master_links.plan(conn, tenant, plan_id)
    if link is None or plan is None or plan.master_link_id != master_link_id:
        raise NotFound(f"settings plan {plan_id} of master link {master_link_id!r} not found")
    run = await sync_runs.get(conn, tenant, plan_id)
    return LedgerJSONResponse(_plan_out(plan, link.settings, run))
