"""R-C3 beyond CSV: one device's usage history (who used it from when to when), read and edited by
hand; periods the MDM's assigned user opened (projection/usage.py) show their provenance.

Periods are whole days, both ends included (`to` null = still in use); two periods of a device may
not overlap (409 `usage_overlap` names the periods in the way). Every edit is in the audit log (R-A4).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.repositories import audit
from ..adapters.repositories import usage_history as repo
from ..domain.usage_history import Entry, conflicts_with
from ..errors import Conflict, NotFound, Unprocessable
from .deps import Conn, CurrentActor, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/devices/{device_id}/usage-history",
    tags=["usage history"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)

_EXAMPLE_ENTRY: dict[str, Any] = {
    "entry_id": 42,
    "device_id": "0b7c55d4-3a1e-4f55-8f8e-3f1c2d9a6b10",
    "user": "taro.yamada@example.com",
    "from": "2026-11-02",
    "to": None,
    "origin": "sync",
    "provenance": {
        "sync_run_id": "5b1f3f2e-8a44-4a4e-9b1e-2f7f0c3d9a10",
        "integration_id": "int-intune-1",
        "event_id": "c8f5e1a0-6f3b-4b8e-9d2a-7e1f0a2b3c4d",
    },
    "created_at": "2026-11-02T06:00:09Z",
    "updated_at": "2026-11-02T06:00:09Z",
}


class UsageProvenance(BaseModel):
    sync_run_id: uuid.UUID | None
    integration_id: str | None
    event_id: uuid.UUID | None = Field(description="the ledger change whose assigned user opened the period")


class UsagePeriod(BaseModel):
    model_config = ConfigDict(populate_by_name=True, json_schema_extra={"examples": [_EXAMPLE_ENTRY]})
    entry_id: int
    device_id: uuid.UUID
    user: str
    from_: date = Field(alias="from", description="first day of use")
    to: date | None = Field(description="last day of use, both included; null = still in use")
    origin: Literal["manual", "import", "sync"] = Field(
        description="`sync`: opened when the MDM's assigned user of the bound device changed"
    )
    provenance: UsageProvenance | None = Field(description="for `sync` periods: where the change came from")
    created_at: datetime
    updated_at: datetime


class UsagePeriodPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_EXAMPLE_ENTRY]}]})
    items: list[UsagePeriod] = Field(description="oldest first")


class UsagePeriodInput(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [{"user": "hanako.sato@example.com", "from": "2026-04-01", "to": "2026-09-30"}]
        },
    )
    user: str = Field(min_length=1, max_length=200)
    from_: date = Field(alias="from", description="YYYY-MM-DD, first day of use")
    to: date | None = Field(
        None, description="YYYY-MM-DD, last day of use (included); null or absent = still in use"
    )


class UsagePeriodPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"to": "2026-11-30"}]},
    )
    user: str | None = Field(None, min_length=1, max_length=200)
    from_: date | None = Field(None, alias="from")
    to: date | None = Field(None, description="null = still in use")


def _overlap_error(
    device_id: uuid.UUID, used_from: date, used_to: date | None, found: list[Entry]
) -> Conflict:
    named = ", ".join(f"#{e.entry_id} {e.user} {e.used_from}–{e.used_to or '…'}" for e in found)
    return Conflict(
        f"{used_from}–{used_to or '…'} overlaps period(s) of device {device_id}: {named}",
        {
            "conflicts": [
                {"entry_id": e.entry_id, "user": e.user, "from": e.used_from, "to": e.used_to} for e in found
            ]
        },
        code="usage_overlap",
    )


def _check_order(used_from: date, used_to: date | None) -> None:
    if used_to is not None and used_to < used_from:
        raise Unprocessable(
            f"the period ends ({used_to}) before it starts ({used_from})",
            [{"location": "body", "field": "to", "message": "before from"}],
        )


def _audited(r: Any) -> dict[str, Any]:
    return {
        "user": r["user_name"],
        "from": r["used_from"].isoformat(),
        "to": r["used_to"] and r["used_to"].isoformat(),
    }


@router.get(
    "",
    response_model=UsagePeriodPage,
    summary="Who used the device, from when to when (R-C3)",
    responses={404: {"model": ErrorBody}},
)
async def list_usage(request: Request, device_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    """Oldest first; kept after the device is deleted (404 only for a device this tenant never had)."""
    reject_unknown_query(request, ())
    if not await repo.device_known(conn, tenant, device_id):
        raise NotFound(f"device {device_id} not found")
    return LedgerJSONResponse(
        {"items": [repo.entry_out(r) for r in await repo.of_device(conn, tenant, device_id)]}
    )


@router.post(
    "",
    status_code=201,
    response_model=UsagePeriod,
    summary="Record a period of use by hand (R-C3)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def add_usage(
    request: Request,
    device_id: uuid.UUID,
    body: Annotated[UsagePeriodInput, Body()],
    tenant: Tenant,
    conn: Conn,
    actor: CurrentActor,
) -> Response:
    reject_unknown_query(request, ())
    _check_order(body.from_, body.to)
    async with conn.transaction():
        await repo.lock(conn, tenant)
        if not await repo.device_exists(conn, tenant, device_id):
            raise NotFound(f"device {device_id} not found")
        if found := conflicts_with(await repo.entries(conn, tenant, device_id), body.from_, body.to):
            raise _overlap_error(device_id, body.from_, body.to, found)
        row = await repo.insert_entry(conn, tenant, device_id, body.user, body.from_, body.to)
        await audit.record(
            conn,
            tenant,
            actor,
            "usage_history.create",
            "usage_period",
            f"{device_id}/{row['entry_id']}",
            None,
            _audited(row),
        )
    return LedgerJSONResponse(repo.entry_out(row), status_code=201)


@router.patch(
    "/{entry_id}",
    response_model=UsagePeriod,
    summary="Change a period's user or days (R-C3)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def edit_usage(
    request: Request,
    device_id: uuid.UUID,
    entry_id: int,
    body: Annotated[UsagePeriodPatch, Body()],
    tenant: Tenant,
    conn: Conn,
    actor: CurrentActor,
) -> Response:
    """Only the keys given change (`to: null` reopens the period); `user` and `from` may not be null."""
    reject_unknown_query(request, ())
    given = {("from" if k == "from_" else k) for k in body.model_fields_set}
    if not given:
        raise Unprocessable("the body names nothing to change", code="empty_patch")
    nulls = sorted(
        k for k in given & {"user", "from"} if getattr(body, "from_" if k == "from" else k) is None
    )
    if nulls:
        raise Unprocessable(
            f"may not be null: {', '.join(nulls)}",
            [{"location": "body", "field": k, "message": "may not be null"} for k in nulls],
        )
    async with conn.transaction():
        await repo.lock(conn, tenant)
        before = await repo.get_entry(conn, tenant, device_id, entry_id)
        if before is None:
            raise NotFound(f"usage period {entry_id} of device {device_id} not found")
        user = body.user if "user" in given else before["user_name"]
        used_from = body.from_ if "from" in given else before["used_from"]
        used_to = body.to if "to" in given else before["used_to"]
        assert user is not None and used_from is not None
        _check_order(used_from, used_to)
        found = conflicts_with(
            await repo.entries(conn, tenant, device_id), used_from, used_to, ignore=entry_id
        )
        if found:
            raise _overlap_error(device_id, used_from, used_to, found)
        row = await repo.update_entry(conn, tenant, entry_id, user, used_from, used_to)
        await audit.record(
            conn,
            tenant,
            actor,
            "usage_history.update",
            "usage_period",
            f"{device_id}/{entry_id}",
            _audited(before),
            _audited(row),
        )
    return LedgerJSONResponse(repo.entry_out(row))


@router.delete(
    "/{entry_id}",
    status_code=204,
    summary="Remove a period (R-C3)",
    responses={404: {"model": ErrorBody}},
)
async def delete_usage(
    request: Request, device_id: uuid.UUID, entry_id: int, tenant: Tenant, conn: Conn, actor: CurrentActor
) -> Response:
    """A period the MDM opened and deleted here is not opened again by a redelivery or a replay."""
    reject_unknown_query(request, ())
    async with conn.transaction():
        await repo.lock(conn, tenant)
        before = await repo.get_entry(conn, tenant, device_id, entry_id)
        if before is None:
            raise NotFound(f"usage period {entry_id} of device {device_id} not found")
        await repo.delete_entry(conn, tenant, entry_id)
        await audit.record(
            conn,
            tenant,
            actor,
            "usage_history.delete",
            "usage_period",
            f"{device_id}/{entry_id}",
            _audited(before),
            None,
        )
    return Response(status_code=204)
