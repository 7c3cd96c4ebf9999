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
    conn: Conn, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The tenant of the bearer token; a token sees its own tenant only."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token (Authorization: Bearer <tenant API token>)")
    tenant_id = await tenants.tenant_for_token(conn, token_hash(credentials.credentials))
    if tenant_id is None:
        raise Unauthorized("unknown API token")
    return tenant_id


Tenant = Annotated[str, Depends(current_tenant)]


def reject_unknown_query(request: Request, allowed: Iterable[str]) -> None:
    """A misspelt filter would otherwise be ignored silently and return the wrong devices."""
    allowed = set(allowed)
    for name in request.query_params:
        if name not in allowed:
            raise InvalidParameter(name, "unknown query parameter", allowed=sorted(allowed))
