"""`/v1/tokens`: the tenant's API tokens (R-A3), created (the secret shown once), listed, revoked.
Every change is in the audit log (R-A4); no secret or hash is ever returned or recorded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ..adapters.repositories import audit, tenants
from ..adapters.repositories import tokens as tokens_repo
from ..errors import Conflict, NotFound
from .deps import Conn, CurrentActor, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/tokens",
    tags=["tokens"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)

Scope = Literal["read", "admin"]

_TOKEN_EXAMPLE: dict[str, Any] = {
    "token_id": "5b0c7a8e-2f7d-4c43-9f7e-0b8f3a1c2d4e",
    "name": "reporting",
    "prefix": "dl_Xk3pQ",
    "scopes": ["read"],
    "created_at": "2026-11-29T08:00:00Z",
    "last_used_at": "2026-11-29T08:05:00Z",
    "revoked": False,
    "revoked_at": None,
}


class NewToken(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "reporting", "scopes": ["read"]}]},
    )
    name: str = Field(min_length=1, max_length=200, description="who or what uses it")
    scopes: list[Scope] = Field(
        min_length=1,
        description="`read`: devices, history, runs, conflicts, CSV export; `admin`: everything",
    )


class ApiToken(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TOKEN_EXAMPLE]})
    token_id: uuid.UUID
    name: str
    prefix: str = Field(description="the token's first characters, to recognise it (shown as `dl_Xk3pQ…`)")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None = Field(description="to the minute: written at most once a minute")
    revoked: bool
    revoked_at: datetime | None


class CreatedToken(ApiToken):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_TOKEN_EXAMPLE,
                    "last_used_at": None,
                    "token": "dl_Xk3pQ<the rest of the secret, shown only in this answer>",
                }
            ]
        }
    )
    token: str = Field(description="the secret: shown only in this answer, stored only as its sha256")


class TokenList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_TOKEN_EXAMPLE]}]})
    items: list[ApiToken]


class CurrentToken(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tenant_id": "acme",
                    "token_id": "5b0c7a8e-2f7d-4c43-9f7e-0b8f3a1c2d4e",
                    "name": "reporting",
                    "scopes": ["read"],
                }
            ]
        }
    )
    tenant_id: str
    token_id: uuid.UUID
    name: str
    scopes: list[str]


@router.get("", response_model=TokenList, summary="The tenant's API tokens (admin)")
async def list_tokens(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    include_revoked: Annotated[bool, Query(description="also the revoked tokens")] = True,
) -> Response:
    """Name, prefix, scopes, when created and last used, whether revoked. Never a secret or hash."""
    reject_unknown_query(request, ("include_revoked",))
    items = await tokens_repo.list_all(conn, tenant, include_revoked=include_revoked)
    return LedgerJSONResponse({"items": items})


@router.post(
    "",
    status_code=201,
    response_model=CreatedToken,
    summary="Create an API token; its secret is in this answer only (admin)",
    responses={422: {"model": ErrorBody}},
)
async def create_token(
    tenant: Tenant, conn: Conn, state: State, actor: CurrentActor, body: Annotated[NewToken, Body()]
) -> Response:
    """The answer's `token` is the secret: copy it now, it is stored only as its sha256 and never
    shown again. Give another service a `read` token."""
    async with conn.transaction():
        created, secret = await tokens_repo.create(
            conn, tenant, name=body.name, scopes=list(body.scopes), now=state.clock()
        )
        await audit.record(
            conn, tenant, actor, "token.create", "token", str(created["token_id"]), after=_audited(created)
        )
    return LedgerJSONResponse(
        {**created, "token": secret},
        status_code=201,
        headers={"Location": f"/v1/tokens/{created['token_id']}", "Cache-Control": "no-store"},
    )


@router.get(
    "/current",
    response_model=CurrentToken,
    summary="The token of this request: its tenant, name and scopes (every scope)",
)
async def current_token(request: Request, tenant: Tenant) -> Response:
    """Lets a client (the console, another service) see what its token may do."""
    reject_unknown_query(request, ())
    owner: tenants.TokenOwner = request.state.token_owner
    return LedgerJSONResponse(
        {"tenant_id": tenant, "token_id": owner.token_id, "name": owner.name, "scopes": list(owner.scopes)}
    )


@router.delete(
    "/{token_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API token at once (admin)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def revoke_token(
    token_id: uuid.UUID, tenant: Tenant, conn: Conn, state: State, actor: CurrentActor
) -> Response:
    """The token's very next request gets 401. The tenant's last live `admin` token cannot be
    revoked (409 `last_admin_token`): nobody could then administer the tenant over the API
    (create another admin token first). Revoking an already revoked token is 409 `already_revoked`."""
    async with conn.transaction():
        await tokens_repo.lock_tenant(conn, tenant)
        found = await tokens_repo.get(conn, tenant, token_id)
        if found is None:
            raise NotFound(f"API token {token_id} not found", {"token_id": str(token_id)})
        if found["revoked"]:
            raise Conflict(
                f"API token {token_id} is already revoked",
                {"token_id": str(token_id)},
                code="already_revoked",
            )
        if "admin" in found["scopes"] and await tokens_repo.live_admin_count(conn, tenant) <= 1:
            raise Conflict(
                "this is the tenant's last admin token: revoking it would leave nobody able to "
                "administer the tenant; create another admin token first",
                {"token_id": str(token_id)},
                code="last_admin_token",
            )
        revoked = await tokens_repo.revoke(conn, tenant, token_id, state.clock())
        assert revoked is not None  # the tenant's row lock keeps it live since the read above
        await audit.record(
            conn,
            tenant,
            actor,
            "token.revoke",
            "token",
            str(token_id),
            before=_audited(found),
            after=_audited(revoked),
        )
    state.tokens_touched.pop(token_id, None)
    return Response(status_code=204)


def _audited(token: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a token: no usage time (it is not an administrative change)."""
    return {k: v for k, v in token.items() if k != "last_used_at"}
