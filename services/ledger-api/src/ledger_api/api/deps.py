"""Per-request dependencies: the app's state, one pooled connection, the caller's tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..adapters.db import Connection
from ..adapters.repositories import tenants
from ..adapters.repositories.audit import Actor
from ..bootstrap import token_hash
from ..domain.crypto import KeyRing
from ..errors import InvalidParameter, Unauthorized
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


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.ledger  # Starlette's State holds Any; build_app put it there
    return state


State = Annotated[AppState, Depends(get_state)]


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
    return owner.tenant_id


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
