"""The composition root: `build_app(settings, *, pool=None, producer=None)` (STYLE §2).

Nothing happens at import time. The lifespan opens the pool (unless given one), applies the
migrations, seeds the bootstrap file, starts the producer (unless given one) and the projection
consumer; it closes only what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from .. import bootstrap, db
from ..consumer import ProjectionConsumer
from ..observability import Metrics, RequestContextMiddleware
from ..settings import Settings
from . import devices, ops, sync
from .deps import AppState, ProjectionSignal
from .responses import LedgerJSONResponse, install_error_handlers

log = structlog.get_logger(__name__)


def build_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    producer: AIOKafkaProducer | None = None,
) -> FastAPI:
    state = AppState(settings=settings, metrics=Metrics(), signal=ProjectionSignal())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if pool is None:
                state.pool = await db.create_pool(
                    settings.database_dsn(),
                    min_size=settings.db_pool_min_size,
                    max_size=settings.db_pool_max_size,
                )
                stack.push_async_callback(state.pool.close)
            else:
                state.pool = pool
            await db.apply_migrations(state.pool)
            if settings.bootstrap_file is not None:
                await bootstrap.seed_file(state.pool, settings.bootstrap_file)
            if producer is None:
                state.producer = AIOKafkaProducer(
                    bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=2
                )
                await state.producer.start()
                stack.push_async_callback(state.producer.stop)
            else:
                state.producer = producer
            if settings.projection_enabled:
                state.consumer = ProjectionConsumer(
                    pool=state.pool,
                    producer=state.producer,
                    bootstrap_servers=settings.kafka_bootstrap_servers,
                    topic_prefix=settings.topic_prefix,
                    group_id=settings.consumer_group,
                    metrics=state.metrics,
                    on_projected=state.signal.notify,
                    max_records=settings.projection_max_records,
                    session_timeout_ms=settings.kafka_session_timeout_ms,
                )
                task = asyncio.create_task(state.consumer.run(), name="ledger-projection")
                task.add_done_callback(_log_consumer_end)
                state.consumer_task = task
                stack.push_async_callback(_stop, task)
            log.info("ledger_api.started", topic_prefix=settings.topic_prefix)
            yield
        log.info("ledger_api.stopped")

    app = FastAPI(
        title="Device ledger API",
        version="1.0.0",
        description="The device ledger over HTTP (SPEC §8). Every /v1 request needs "
        "`Authorization: Bearer <tenant API token>`.",
        lifespan=lifespan,
        default_response_class=LedgerJSONResponse,
    )
    app.state.ledger = state
    install_error_handlers(app)
    app.include_router(ops.router)
    app.include_router(devices.router)
    app.include_router(sync.router)
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)
    return app


def _log_consumer_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("projection.crashed", error=repr(task.exception()))


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
