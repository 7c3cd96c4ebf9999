"""`/v1/tenant`: the tenant's own settings (name, time zone, default daily sync time), admin only.
A change is in the audit log with its before/after (R-A4)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..adapters.repositories import audit, tenants
from ..errors import NotFound, Unprocessable
from .deps import Conn, CurrentActor, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/tenant",
    tags=["tenant"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class TenantSettings(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant_id": "acme",
                    "name": "Acme Corp",
                    "time_zone": "Asia/Tokyo",
                    "default_sync_time": "06:00",
                    "created_at": "2026-11-01T00:00:00Z",
                }
            ]
        }
    )
    tenant_id: str
    name: str
    time_zone: str = Field(description="IANA zone: the default zone of new master links' schedules")
    default_sync_time: str = Field(
        description="HH:MM: the default daily sync time of new master links (R-M7)"
    )
    created_at: datetime


class TenantSettingsPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"time_zone": "Asia/Tokyo", "default_sync_time": "05:30"}]},
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    time_zone: str | None = Field(None, max_length=64, description="IANA zone, e.g. Asia/Tokyo")
    default_sync_time: str | None = Field(None, pattern=HHMM, description="HH:MM")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ZoneInfo(value).key
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("unknown time zone (use an IANA name such as Asia/Tokyo)") from None


@router.get("", response_model=TenantSettings, summary="The tenant's settings (admin)")
async def get_tenant(request: Request, tenant: Tenant, conn: Conn) -> Response:
    reject_unknown_query(request, ())
    found = await tenants.get_settings(conn, tenant)
    if found is None:  # a token outlives its tenant only if the tenant row was deleted by hand
        raise NotFound(f"tenant {tenant!r} not found")
    return LedgerJSONResponse(found)


@router.patch(
    "",
    response_model=TenantSettings,
    summary="Change the tenant's name, time zone or default sync time (admin)",
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def patch_tenant(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    actor: CurrentActor,
    body: Annotated[TenantSettingsPatch, Body()],
) -> Response:
    """Only the keys given change; none of them may be null. `time_zone` and `default_sync_time`
    are the defaults of master links created **later**: an existing link keeps the schedule it
    was created with (each link stores its own local time and zone; change it on the link)."""
    reject_unknown_query(request, ())
    given = body.model_fields_set
    if not given:
        raise Unprocessable("the body names no setting to change", code="empty_patch")
    nulls = sorted(k for k in given if getattr(body, k) is None)
    if nulls:
        raise Unprocessable(
            f"a setting cannot be cleared: {', '.join(nulls)}",
            [{"location": "body", "field": k, "message": "may not be null"} for k in nulls],
        )
    async with conn.transaction():
        before = await tenants.get_settings(conn, tenant, for_update=True)
        if before is None:
            raise NotFound(f"tenant {tenant!r} not found")
        after = await tenants.update_settings(
            conn,
            tenant,
            name=body.name,
            time_zone=body.time_zone,
            sync_time=time.fromisoformat(body.default_sync_time) if body.default_sync_time else None,
        )
        assert after is not None
        changed = sorted(k for k in given if before[k] != after[k])
        if changed:
            await audit.record(
                conn,
                tenant,
                actor,
                "tenant.update",
                "tenant",
                tenant,
                before={k: before[k] for k in changed},
                after={k: after[k] for k in changed},
            )
    return LedgerJSONResponse(after)
