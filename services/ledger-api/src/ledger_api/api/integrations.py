"""`/v1/integrations`: connected MDM accounts (R-S2, R-S3). Secrets are write-only."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import SecretStr, ValidationError

from ..adapters import mdm_probe
from ..adapters.repositories import audit, integrations, master_links
from ..domain.credentials import credentials_adapter
from ..domain.crypto import SecretsKeyError
from ..domain.urls import URL_FIELDS
from ..errors import Conflict, NotFound, Unavailable, Unprocessable
from .admin_schemas import Integration, IntegrationList, IntegrationPatch, IntegrationTest, NewIntegration
from .deps import AppState, Conn, CurrentActor, State, Tenant, current_tenant, reject_unknown_query
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
    tenant: Tenant, conn: Conn, state: State, actor: CurrentActor, body: Annotated[NewIntegration, Body()]
) -> Response:
    """Stores the connection settings; the secret (client secret or password) is encrypted with
    the API's secrets key and never returned (`has_secret: true`). The connectors receive it
    encrypted with each sync request. MDM URLs must be https with a public host (R-X2): 422
    naming the field otherwise. The state is `untested` until a test or a sync succeeds."""
    if state.keys is None:
        raise _no_key()
    integration_id = body.integration_id or f"int-{uuid.uuid4().hex[:12]}"
    entry = body.entry()
    await _check_urls(state, {k: entry.get(k) for k in URL_FIELDS})
    async with conn.transaction():
        created = await integrations.create(
            conn,
            tenant,
            integration_id,
            kind=body.kind,
            display_name=body.display_name or None,
            connection=body.connection(),
            credentials=state.keys.encrypt_json(entry),
            key_id=state.keys.key_id,
        )
        if not created:
            raise Conflict(
                f"integration {integration_id!r} already exists",
                {"integration_id": integration_id},
                code="integration_exists",
            )
        found = await integrations.get(conn, tenant, integration_id)
        await audit.record(
            conn, tenant, actor, "integration.create", "integration", integration_id, None, found
        )
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


_SECRETS = ("client_secret", "password")
_FIELDS = {
    "intune": {
        "azure_tenant_id",
        "client_id",
        "client_secret",
        "authority_url",
        "graph_base_url",
        "ca_bundle",
    },
    "jamf_pro": {"base_url", "client_id", "client_secret", "username", "password", "ca_bundle"},
}


def _no_key() -> Unavailable:
    return Unavailable(
        "this API has no LEDGER_API_SECRETS_KEY: it cannot store credentials", code="secrets_key_missing"
    )


async def _check_urls(state: AppState, values: dict[str, Any]) -> None:
    """R-X2: https, and a public host unless the operator allows private ones."""
    problems = await mdm_probe.url_problems(values, allow_private=state.settings.allow_private_mdm_hosts)
    if problems:
        details = [
            {"location": "body", "field": field, "message": why, "type": "url_refused"}
            for field, why in problems
        ]
        text = "; ".join(f"{field} {why}" for field, why in problems)
        raise Unprocessable(f"invalid request body: {text}", details)


def _invalid(exc: ValidationError) -> Unprocessable:
    """Field names and reasons, never the values (a secret may be among them)."""
    details = []
    for err in exc.errors(include_input=False):
        loc = [str(p) for p in err.get("loc", ()) if str(p) not in ("intune", "jamf_pro")]
        details.append(
            {
                "location": "body",
                "field": ".".join(loc) or "body",
                "message": err.get("msg"),
                "type": err.get("type"),
            }
        )
    names = ", ".join(dict.fromkeys(d["field"] for d in details))
    return Unprocessable(f"invalid request body: {names}", details)


@router.patch(
    "/{integration_id}",
    response_model=Integration,
    summary="Change an integration: display name, URLs, credentials (R-A1)",
    responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def update_integration(
    integration_id: str,
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[IntegrationPatch, Body()],
) -> Response:
    """Only the keys given change. A rotated secret (`client_secret`, `password`) is sealed at once:
    the next sync request carries it, and no request made from then on carries the old one. The
    integration keeps its id and its master link; its last test is forgotten (the new secret has not
    been tried: run `POST …/test`)."""
    reject_unknown_query(request, ())
    given = set(body.model_fields_set)
    if not given:
        raise Unprocessable("the body names nothing to change", code="empty_patch")
    async with conn.transaction():
        row = await integrations.lock(conn, tenant, integration_id)
        if row is None:
            raise NotFound(f"integration {integration_id!r} not found")
        kind = row["kind"]
        foreign = sorted(given - _FIELDS[kind] - {"display_name"})
        if foreign:
            raise Unprocessable(
                f"invalid request body: {', '.join(foreign)} not a field of a {kind} integration",
                [
                    {"location": "body", "field": f, "message": f"not a field of a {kind} integration"}
                    for f in foreign
                ],
            )
        before = await integrations.get(conn, tenant, integration_id)
        display_name = (body.display_name or None) if "display_name" in given else row["display_name"]
        connection = json.loads(row["connection"])
        sealed, key_id = None, None
        changed = given - {"display_name"}
        if changed:
            if state.keys is None:
                raise _no_key()
            merged = _stored_entry(state, row, connection)
            if kind == "jamf_pro" and changed & {"username", "password"}:
                merged.pop("client_id", None), merged.pop("client_secret", None)
            if kind == "jamf_pro" and changed & {"client_id", "client_secret"}:
                merged.pop("username", None), merged.pop("password", None)
            for key in changed:
                value = getattr(body, key)
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value.get_secret_value() if isinstance(value, SecretStr) else value
            await _check_urls(state, {k: merged.get(k) for k in URL_FIELDS if k in changed})
            try:
                credentials = credentials_adapter.validate_python({"kind": kind, **merged})
            except ValidationError as exc:
                raise _invalid(exc) from None
            entry = credentials.entry()
            connection = credentials.connection()
            sealed, key_id = state.keys.encrypt_json(entry), state.keys.key_id
        await integrations.update(
            conn,
            tenant,
            integration_id,
            display_name=display_name,
            connection=connection,
            credentials=sealed,
            key_id=key_id,
        )
        after = await integrations.get(conn, tenant, integration_id)
        assert after is not None
        await audit.record(
            conn,
            tenant,
            actor,
            "integration.update",
            "integration",
            integration_id,
            before,
            {**after, "changed": sorted(given), "secrets_rotated": sorted(given & set(_SECRETS))},
        )
    return LedgerJSONResponse(after)


def _stored_entry(state: AppState, row: Any, connection: dict[str, Any]) -> dict[str, Any]:
    """The stored integrations-file entry; an integration seeded without credentials (or sealed
    under a key this API no longer has) starts from its non-secret connection settings."""
    if row["credentials"] is not None and state.keys is not None:
        try:
            return state.keys.decrypt_json(row["credentials"])
        except SecretsKeyError:
            pass
    return {k: v for k, v in connection.items() if v is not None and k in _FIELDS[row["kind"]]}


@router.delete(
    "/{integration_id}",
    status_code=204,
    summary="Delete an integration (409 while it is master-linked)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
async def delete_integration(
    integration_id: str, request: Request, tenant: Tenant, conn: Conn, state: State, actor: CurrentActor
) -> Response:
    """Its credentials are dropped at once. A live master link must be unlinked first (R-S4/R-S5
    decide what happens to the devices): 409 `integration_linked` names it."""
    reject_unknown_query(request, ())
    async with conn.transaction():
        row = await integrations.lock(conn, tenant, integration_id)
        if row is None:
            raise NotFound(f"integration {integration_id!r} not found")
        live = await master_links.live_link_of(conn, tenant, integration_id)
        if live is not None:
            raise Conflict(
                f"integration {integration_id!r} is master-linked by {live!r}: unlink it first "
                f"(DELETE /v1/master-links/{live}?keep_devices=true|false)",
                {"integration_id": integration_id, "master_link_id": live},
                code="integration_linked",
            )
        before = await integrations.get(conn, tenant, integration_id)
        await integrations.delete(conn, tenant, integration_id, state.clock())
        await audit.record(
            conn, tenant, actor, "integration.delete", "integration", integration_id, before, None
        )
    return Response(status_code=204)


@router.post(
    "/{integration_id}/test",
    response_model=IntegrationTest,
    summary="Try the credentials against the MDM (R-A1)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def test_integration(
    integration_id: str, request: Request, tenant: Tenant, conn: Conn, state: State, actor: CurrentActor
) -> Response:
    """Intune: a client-credentials token from the authority, then one managedDevices item from
    Graph. Jamf Pro: a token (API client or user), then one computers-inventory item. 200 either
    way: `ok`, and when not, `failure` (authentication, consent_or_permission, network, tls,
    mdm_error) with a message that never holds the secret. A success makes the integration
    `connected`; a failure shows as its `error` until a later test or sync succeeds."""
    reject_unknown_query(request, ())
    row = await integrations.lock(conn, tenant, integration_id)  # outside a transaction: no lock held
    if row is None:
        raise NotFound(f"integration {integration_id!r} not found")
    if row["credentials"] is None:
        raise Conflict(
            f"integration {integration_id!r} has no stored credentials to test (PATCH them first)",
            {"integration_id": integration_id},
            code="no_credentials",
        )
    if state.keys is None:
        raise _no_key()
    try:
        entry = state.keys.decrypt_json(row["credentials"])
    except SecretsKeyError:
        raise Conflict(
            f"the credentials of integration {integration_id!r} (key {row['credentials_key_id']}) cannot be "
            "decrypted with this API's keys: PATCH them again",
            {"integration_id": integration_id},
            code="credentials_unreadable",
        ) from None
    result = await mdm_probe.probe(row["kind"], entry, allow_private=state.settings.allow_private_mdm_hosts)
    tested_at = state.clock()
    async with conn.transaction():
        if await integrations.lock(conn, tenant, integration_id) is None:  # deleted meanwhile
            raise NotFound(f"integration {integration_id!r} not found")
        await integrations.record_test(
            conn,
            tenant,
            integration_id,
            at=tested_at,
            ok=result.ok,
            failure=result.failure,
            message=result.message,
        )
        after = await integrations.get(conn, tenant, integration_id)
        assert after is not None
        outcome = {"ok": result.ok, "failure": result.failure, "step": result.step, "message": result.message}
        await audit.record(
            conn, tenant, actor, "integration.test", "integration", integration_id, None, outcome
        )
    return LedgerJSONResponse(
        {"integration_id": integration_id, **outcome, "tested_at": tested_at, "state": after["state"]}
    )
