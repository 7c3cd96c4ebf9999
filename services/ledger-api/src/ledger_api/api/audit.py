"""`GET /v1/audit-log`: the tenant's administrative actions (R-A4), newest first, admin only.
Who (the token's id and name), what, when, before/after; secrets are redacted before storing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import cursor as cursors
from ..adapters.repositories import audit
from ..errors import InvalidParameter
from .deps import Conn, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/audit-log",
    tags=["audit log"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)

_ENTRY_EXAMPLE: dict[str, Any] = {
    "audit_id": 42,
    "occurred_at": "2026-11-29T08:00:00Z",
    "actor": {"token_id": "5b0c7a8e-2f7d-4c43-9f7e-0b8f3a1c2d4e", "name": "bootstrap"},
    "action": "tenant.update",
    "target_type": "tenant",
    "target_id": "acme",
    "before": {"default_sync_time": "06:00"},
    "after": {"default_sync_time": "05:30"},
}


class Actor(BaseModel):
    token_id: uuid.UUID | None = Field(description="the token that acted; null: an operator command")
    name: str


class AuditEntry(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_ENTRY_EXAMPLE]})
    audit_id: int
    occurred_at: datetime
    actor: Actor
    action: str = Field(description="e.g. token.create, token.revoke, tenant.update, integration.create")
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None = Field(description="the changed settings before; secrets as ***")
    after: dict[str, Any] | None = Field(description="the changed settings after; secrets as ***")


class AuditPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_ENTRY_EXAMPLE], "next_cursor": None}]}
    )
    items: list[AuditEntry]
    next_cursor: str | None


@router.get("", response_model=AuditPage, summary="The tenant's audit log, newest first (admin, R-A4)")
async def list_audit_log(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    action: Annotated[str | None, Query(max_length=200, description="e.g. token.revoke")] = None,
    target_type: Annotated[str | None, Query(max_length=200, description="e.g. token, tenant")] = None,
    target_id: Annotated[str | None, Query(max_length=200)] = None,
    actor_token: Annotated[uuid.UUID | None, Query(description="the acting token's token_id")] = None,
    occurred_from: Annotated[
        datetime | None, Query(alias="from", description="inclusive; ISO 8601 with an offset")
    ] = None,
    occurred_to: Annotated[
        datetime | None, Query(alias="to", description="exclusive; ISO 8601 with an offset")
    ] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    reject_unknown_query(
        request, ("action", "target_type", "target_id", "actor_token", "from", "to", "cursor", "limit")
    )
    for name, value in (("from", occurred_from), ("to", occurred_to)):
        if value is not None and value.utcoffset() is None:
            raise InvalidParameter(name, "needs a UTC offset (e.g. 2026-11-29T08:00:00Z)")
    after_id = cursors.decode(cursor, lambda d: cursors.integer(d["a"])) if cursor else None
    where = audit.AuditFilter(
        action=action,
        target_type=target_type,
        target_id=target_id,
        actor_token=actor_token,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    rows = await audit.page(conn, tenant, where, after_id=after_id, limit=limit)
    items = rows[:limit]
    nxt = cursors.encode({"a": items[-1]["audit_id"]}) if len(rows) > limit else None
    return LedgerJSONResponse({"items": items, "next_cursor": nxt})
