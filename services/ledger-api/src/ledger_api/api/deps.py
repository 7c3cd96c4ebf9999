"""Per-request dependencies: the app's state, one pooled connection, the caller's tenant."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..adapters.db import Connection
from ..adapters.repositories import tenants
from ..adapters.repositories import tokens as tokens_repo
from ..adapters.repositories.audit import Actor
from ..bootstrap import token_hash
from ..domain.crypto import KeyRing
from ..errors import Forbidden, InvalidParameter, Unauthorized
from ..observability import Metrics
from ..projection.consumer import ProjectionConsumer
from ..scheduler import Clock, Scheduler, utc_clock
from ..settings import Settings
from ..sync_requests import SyncRequests


class ProjectionSignal:
    """Wakes the requests that wait for a command's change each time a batch is projected."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


@dataclass
class AppState:
    settings: Settings
    metrics: Metrics
    signal: ProjectionSignal
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    consumer: ProjectionConsumer | None = None
    consumer_task: asyncio.Task[None] | None = field(default=None, repr=False)
    keys: KeyRing | None = None  # integration secrets (crypto.py); None without LEDGER_API_SECRETS_KEY
    clock: Clock = utc_clock
    sync_requests: SyncRequests | None = None
    scheduler: Scheduler | None = None
    scheduler_task: asyncio.Task[None] | None = field(default=None, repr=False)
    # R-A3: when this process last wrote each token's last_used_at (at most once a minute each)
    tokens_touched: dict[uuid.UUID, datetime] = field(default_factory=dict, repr=False)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ledger  # Starlette's State holds Any; build_app put it there
    return state


async def _state(request: Request) -> AppState:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request
    return get_state(request)


State = Annotated[AppState, Depends(_state)]


async def connection(state: State) -> AsyncIterator[Connection]:
    assert state.pool is not None
    async with state.pool.acquire() as conn:
        yield conn


Conn = Annotated[Connection, Depends(connection)]

_bearer = HTTPBearer(auto_error=False, description="A tenant API token")


async def current_tenant(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The tenant of the bearer token; a token sees its own tenant only. The token's owner (id,
    name, scopes; never the token) is kept on the request for `current_actor` (R-A3, R-A4)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <tenant API token>)")
    owner = await tenants.token_owner(conn, token_hash(credentials.credentials))
    if owner is None:
        raise Unauthorized("unknown or revoked API token")
    request.state.token_owner = owner
    require_scope(request, owner)
    await _touch(get_state(request), conn, owner)
    return owner.tenant_id


# R-A3 scopes. `admin` may do everything; `read` may only read, and not these administrative
# resources (route path prefixes). `GET /v1/tokens/current` (who am I) is open to every token.
READ_METHODS = frozenset({"GET", "HEAD"})
ADMIN_ONLY_READS = ("/v1/integrations", "/v1/tokens", "/v1/audit-log", "/v1/tenant")
OPEN_TO_EVERY_SCOPE = frozenset({"/v1/tokens/current"})
LAST_USED_RESOLUTION = timedelta(minutes=1)


def needs_admin(method: str, route_path: str) -> bool:
    """Whether a request needs the `admin` scope (pure; `route_path` is the route's template)."""
    if route_path in OPEN_TO_EVERY_SCOPE:
        return False
    if method.upper() not in READ_METHODS:
        return True
    return any(route_path == p or route_path.startswith(p + "/") for p in ADMIN_ONLY_READS)


def require_scope(request: Request, owner: tenants.TokenOwner) -> None:
    if "admin" in owner.scopes:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    if needs_admin(request.method, path):
        raise Forbidden(
            f"{request.method} {path} needs an API token with scope 'admin'; this token has "
            f"scope(s) {', '.join(repr(s) for s in owner.scopes) or 'none'}",
            {"required_scope": "admin", "token_scopes": list(owner.scopes)},
        )


def document_scopes(app: FastAPI) -> None:
    """Every /v1 operation documents the 403 of a token without the needed scope (its body is the
    one error shape, `ErrorBody`, which every router already puts into the document's components).
    Done on the generated document, so a router added later is covered without doing anything."""
    forbidden = {
        "description": "the token lacks the scope this request needs (R-A3)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        for path, operations in document.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation.setdefault("responses", {}).setdefault("403", forbidden)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


async def _touch(state: AppState, conn: Connection, owner: tenants.TokenOwner) -> None:
    """`last_used_at`, cheaply: this process writes it at most once a minute per token, and the
    UPDATE itself only changes a row whose value is older than a minute (several replicas)."""
    now = state.clock()
    last = state.tokens_touched.get(owner.token_id)
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    state.tokens_touched[owner.token_id] = now
    await tokens_repo.touch(conn, owner.token_id, now, LAST_USED_RESOLUTION)


Tenant = Annotated[str, Depends(current_tenant)]


async def current_actor(request: Request, tenant_id: Tenant) -> Actor:
    """Who is acting, for the audit log (R-A4): the token's id and name."""
    owner: tenants.TokenOwner = request.state.token_owner
    return Actor(name=owner.name, token_id=owner.token_id)


CurrentActor = Annotated[Actor, Depends(current_actor)]


def reject_unknown_query(request: Request, allowed: Iterable[str]) -> None:
    """A misspelt filter would otherwise be ignored silently and return the wrong devices."""
    allowed = set(allowed)
    for name in request.query_params:
        if name not in allowed:
            raise InvalidParameter(name, "unknown query parameter", allowed=sorted(allowed))
