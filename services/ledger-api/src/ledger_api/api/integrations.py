"""`/v1/integrations`: connected MDM accounts (R-S2, R-S3). Secrets are write-only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response

from ..adapters.repositories import integrations
from ..errors import Conflict, NotFound, Unavailable
from .admin_schemas import Integration, IntegrationList, NewIntegration
from .deps import Conn, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/integrations",
    tags=["integrations"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)


@router.get("", response_model=IntegrationList, summary="Integrations with their state (R-S2)")
async def list_integrations(request: Request, tenant: Tenant, conn: Conn) -> Response:
    """Every integration of the tenant, `connected` or `master_linked`. Never any secret."""
    reject_unknown_query(request, ())
    return LedgerJSONResponse({"items": await integrations.list_all(conn, tenant)})


@router.post(
    "",
    status_code=201,
    response_model=Integration,
    summary="Connect an MDM (Intune or Jamf Pro)",
    responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def create_integration(
    tenant: Tenant, conn: Conn, state: State, body: Annotated[NewIntegration, Body()]
) -> Response:
    """Stores the connection settings; the secret (client secret or password) is encrypted with
    the API's secrets key and never returned (`has_secret: true`). The connectors receive it
    encrypted with each sync request."""
    if state.keys is None:
        raise Unavailable(
            "this API has no LEDGER_API_SECRETS_KEY: it cannot store credentials", code="secrets_key_missing"
        )
    integration_id = body.integration_id or f"int-{uuid.uuid4().hex[:12]}"
    created = await integrations.create(
        conn,
        tenant,
        integration_id,
        kind=body.kind,
        display_name=body.display_name or None,
        connection=body.connection(),
        credentials=state.keys.encrypt_json(body.entry()),
        key_id=state.keys.key_id,
    )
    if not created:
        raise Conflict(
            f"integration {integration_id!r} already exists",
            {"integration_id": integration_id},
            code="integration_exists",
        )
    found = await integrations.get(conn, tenant, integration_id)
    return LedgerJSONResponse(
        found, status_code=201, headers={"Location": f"/v1/integrations/{integration_id}"}
    )


@router.get(
    "/{integration_id}",
    response_model=Integration,
    summary="One integration",
    responses={404: {"model": ErrorBody}},
)
async def get_integration(integration_id: str, request: Request, tenant: Tenant, conn: Conn) -> Response:
    reject_unknown_query(request, ())
    found = await integrations.get(conn, tenant, integration_id)
    if found is None:
        raise NotFound(f"integration {integration_id!r} not found")
    return LedgerJSONResponse(found)
