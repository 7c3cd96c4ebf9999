"""`/v1/devices`: list, detail, history (projected reads) and manual edits (commands)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from ledger_contracts import (
    CreateDevice,
    DeleteDevice,
    DeviceFieldsInput,
    Source,
    UpdateDevice,
    topics,
)

from .. import cursor as cursors
from ..adapters import kafka
from ..adapters.repositories import device_listing as listing
from ..adapters.repositories import devices
from ..errors import Conflict, NotFound, Unprocessable
from . import commands, custom_fields
from .deps import Conn, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import CommandAccepted, Device, DevicePage, ErrorBody, HistoryPage

router = APIRouter(
    prefix="/v1/devices",
    tags=["devices"],
    dependencies=[Depends(current_tenant)],
    responses={401: {"model": ErrorBody}, 400: {"model": ErrorBody}},
)

_LIST_PARAMS = ("source", "q", "os", "assigned_user", "status", "missing_from_mdm", "sort", "cursor", "limit")


@router.get("", response_model=DevicePage, summary="List devices (filters, search, sort, cursor, columns)")
async def list_devices(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    source: Annotated[Source | None, Query(description="manual | intune | jamf_pro (R-S1)")] = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="substring of asset/serial/model/user/device name"),
    ] = None,
    os: Annotated[str | None, Query(max_length=200, description="OS prefix, case-insensitive")] = None,
    assigned_user: Annotated[str | None, Query(max_length=320, description="exact, case-insensitive")] = None,
    status: Annotated[str | None, Query(max_length=200)] = None,
    missing_from_mdm: bool | None = None,
    sort: Annotated[
        str | None, Query(description=f"one of {sorted(listing.SORTABLE)}, '-' prefix for descending")
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=listing.MAX_LIMIT)] = 100,
    fields: Annotated[
        str | None, Query(description=f"comma-separated subset of {list(listing.FIELDS)}")
    ] = None,
) -> Response:
    reject_unknown_query(request, (*_LIST_PARAMS, "fields"))
    order = listing.Sort.parse(sort)
    columns = listing.parse_fields(fields)
    key = listing.decode_cursor(cursor, order) if cursor else None
    filters = listing.Filters(source, q, os, assigned_user, status, missing_from_mdm)
    body = await devices.list_page(conn, tenant, filters, order, columns, key, limit)
    return Response(body, media_type="application/json")


@router.get("/{device_id}", response_model=Device, responses={404: {"model": ErrorBody}})
async def get_device(device_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    device = await devices.get(conn, tenant, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    return LedgerJSONResponse(device)


@router.get("/{device_id}/history", response_model=HistoryPage, responses={404: {"model": ErrorBody}})
async def device_history(
    device_id: uuid.UUID,
    tenant: Tenant,
    conn: Conn,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Field changes with provenance (R-M11), newest first; kept after the device is deleted."""
    before = cursors.decode(cursor, lambda d: cursors.integer(d["before"])) if cursor else None
    items = await devices.history(conn, tenant, device_id, before_version=before, limit=limit + 1)
    if not items and before is None and not await devices.has_history(conn, tenant, device_id):
        if await devices.get(conn, tenant, device_id) is None:
            raise NotFound(f"device {device_id} not found")
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = cursors.encode({"before": items[-1]["version"]})
    return LedgerJSONResponse({"items": items, "next_cursor": next_cursor})


# --- manual edits: published as commands, applied by the reconciler -----------------------------


def _accepted(command_id: uuid.UUID, device_id: uuid.UUID) -> Response:
    return LedgerJSONResponse(
        {"status": "accepted", "command_id": command_id, "device_id": device_id},
        status_code=202,
        headers={"Location": f"/v1/devices/{device_id}"},
    )


async def _send_and_wait(state: State, conn: Conn, tenant: str, command: Any) -> dict[str, Any] | None:
    topic = topics.named(topics.COMMANDS, state.settings.topic_prefix)
    await kafka.publish(state.producer, topic, command)
    outcome = await commands.wait_for_outcome(
        conn, tenant, command.event_id, timeout=state.settings.command_wait_seconds, signal=state.signal
    )
    commands.raise_if_rejected(outcome, command.event_id)  # e.g. a taken asset number: 409
    return outcome


_EDIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": CommandAccepted, "description": "published; not projected within the wait"},
    422: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


@router.post("", status_code=201, response_model=Device, responses=_EDIT_RESPONSES)
async def create_device(
    body: Annotated[DeviceFieldsInput, Body(description="ledger fields; unknown keys are rejected")],
    tenant: Tenant,
    conn: Conn,
    state: State,
) -> Response:
    body = await custom_fields.checked_create(conn, tenant, body)  # R-C4, R-M8
    command = CreateDevice(tenant_id=tenant, device_id=uuid.uuid4(), fields=body)
    outcome = await _send_and_wait(state, conn, tenant, command)
    device = await devices.get(conn, tenant, command.device_id) if outcome else None
    if device is None:
        return _accepted(command.event_id, command.device_id)
    return LedgerJSONResponse(
        device, status_code=201, headers={"Location": f"/v1/devices/{command.device_id}"}
    )


@router.patch("/{device_id}", response_model=Device, responses={**_EDIT_RESPONSES, 404: {"model": ErrorBody}})
async def update_device(
    device_id: uuid.UUID,
    body: Annotated[DeviceFieldsInput, Body(description="only the keys present are changed; null clears")],
    tenant: Tenant,
    conn: Conn,
    state: State,
) -> Response:
    if not body.model_fields_set:
        raise Unprocessable("the body names no field to change", code="empty_patch")
    exists, _bound = await devices.binding_of(conn, tenant, device_id)
    if not exists:
        raise NotFound(f"device {device_id} not found")
    body = await custom_fields.checked_update(conn, tenant, device_id, body)  # R-C4, R-M8
    # `body.model_fields_set` is exactly the keys of the request: what the reconciler changes.
    command = UpdateDevice(tenant_id=tenant, device_id=device_id, fields=body)
    outcome = await _send_and_wait(state, conn, tenant, command)
    if outcome is None:
        return _accepted(command.event_id, device_id)
    device = await devices.get(conn, tenant, device_id)
    if device is None:
        raise NotFound(f"device {device_id} was deleted meanwhile")
    return LedgerJSONResponse(device)


@router.delete(
    "/{device_id}",
    status_code=204,
    responses={**_EDIT_RESPONSES, 404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def delete_device(device_id: uuid.UUID, tenant: Tenant, conn: Conn, state: State) -> Response:
    """R-S6: a device its MDM still reports cannot be deleted (409 `device_bound`); R-S8: a bound
    device that is `missing_from_mdm` is retired, and may be."""
    exists, reported = await devices.deletable(conn, tenant, device_id)
    if not exists:
        raise NotFound(f"device {device_id} not found")
    if reported:
        # R-S6: delete the manual twin instead, or remove the master link.
        raise Conflict(
            f"device {device_id} is bound to an MDM that still reports it and cannot be deleted while its "
            "master link is on",
            {"device_id": str(device_id)},
            code="device_bound",
        )
    command = DeleteDevice(tenant_id=tenant, device_id=device_id)
    outcome = await _send_and_wait(state, conn, tenant, command)
    if outcome is None:
        return _accepted(command.event_id, device_id)
    return Response(status_code=204)
