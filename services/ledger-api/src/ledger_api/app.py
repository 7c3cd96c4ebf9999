"""The composition root: `build_app(settings, *, pool=None, producer=None, clock=None)` (STYLE §2).

Nothing happens at import time. The lifespan opens the pool (unless given one), applies the
migrations, re-encrypts credentials sealed under an older key, seeds the bootstrap file, starts
the producer (unless given one), the projection consumer and the daily-sync scheduler; it closes
only what it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from ledger_contracts import Event, topics

from . import bootstrap
from .adapters import db, kafka
from .adapters.repositories import integrations as integrations_repo
from .api import (
    audit,
    conflicts,
    custom_fields,
    device_csv,
    devices,
    docs,
    integrations,
    master_links,
    mdm_priority,
    ops,
    plans,
    sync,
    tenant_settings,
    tokens,
    usage_history,
)
from .api.deps import AppState, ProjectionSignal, document_scopes
from .api.responses import LedgerJSONResponse, install_error_handlers
from .body_limits import BodyLimitMiddleware
from .domain.crypto import KeyRing
from .observability import Metrics, RequestContextMiddleware
from .projection.consumer import ProjectionConsumer
from .scheduler import Clock, Scheduler, utc_clock
from .settings import Settings
from .sync_requests import SyncRequests

log = structlog.get_logger(__name__)


def build_app(
    settings: Settings,
    *,
    pool: asyncpg.Pool | None = None,
    producer: AIOKafkaProducer | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    state = AppState(
        settings=settings, metrics=Metrics(), signal=ProjectionSignal(), clock=clock or utc_clock
    )
    if settings.secrets_key is not None:
        state.keys = KeyRing.parse(settings.secrets_key.get_secret_value())  # a bad key fails here
    requests_topic = topics.named(topics.SYNC_REQUESTS, settings.topic_prefix)

    async def publish_sync_request(event: Event) -> None:
        await kafka.publish(state.producer, requests_topic, event)

    state.sync_requests = SyncRequests(publish=publish_sync_request, keys=state.keys, metrics=state.metrics)

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
            if state.keys is not None:
                await _reseal_credentials(state.pool, state.keys)
            if settings.bootstrap_file is not None:
                await bootstrap.seed_file(state.pool, settings.bootstrap_file, keys=state.keys)
            if producer is None:
                state.producer = kafka.create_producer(settings)
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
            if settings.scheduler_enabled:
                state.scheduler = _scheduler(state)
                state.scheduler_task = asyncio.create_task(state.scheduler.run(), name="ledger-scheduler")
                state.scheduler_task.add_done_callback(_log_scheduler_end)
                stack.push_async_callback(_stop, state.scheduler_task)
            log.info("ledger_api.started", topic_prefix=settings.topic_prefix, secrets_key_id=_key_id(state))
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
    app.include_router(device_csv.router)  # before devices: /v1/devices/export.csv is not a device id
    app.include_router(devices.router)
    app.include_router(usage_history.router)
    app.include_router(custom_fields.router)
    app.include_router(conflicts.router)
    app.include_router(plans.router)
    app.include_router(integrations.router)
    app.include_router(master_links.router)
    app.include_router(mdm_priority.router)  # R-P1 (issue 11)
    app.include_router(sync.router)
    app.include_router(tokens.router)
    app.include_router(tenant_settings.router)
    app.include_router(audit.router)
    docs.install(app)  # /docs, /redoc offline (no CDN), /asyncapi.json and /asyncapi (issues 8, 13)
    document_scopes(app)  # after every router: each /v1 route documents its 403 (R-A3)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.request_max_bytes,
        import_limit=settings.import_max_bytes,
    )
    app.add_middleware(RequestContextMiddleware, metrics=state.metrics)
    return app


def _log_consumer_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("projection.crashed", error=repr(task.exception()))


def _log_scheduler_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scheduler.crashed", error=repr(task.exception()))


def _scheduler(state: AppState) -> Scheduler:
    assert state.pool is not None and state.sync_requests is not None
    metrics = state.metrics

    def ticked(triggered: int) -> None:
        metrics.scheduler_ticks.inc()
        metrics.scheduler_last_tick.set(state.clock().timestamp())

    return Scheduler(
        state.pool,
        state.sync_requests,
        clock=state.clock,
        interval_seconds=state.settings.scheduler_interval_seconds,
        on_tick=ticked,
    )


async def _reseal_credentials(pool: asyncpg.Pool, keys: KeyRing) -> None:
    async with pool.acquire() as conn, conn.transaction():
        done, unreadable = await integrations_repo.reseal(conn, keys.key_id, keys.rotate)
    if done:
        log.info("secrets.resealed", integrations=done, key_id=keys.key_id)
    if unreadable:
        log.error("secrets.unreadable", integrations=unreadable, key_ids=list(keys.key_ids))


def _key_id(state: AppState) -> str | None:
    return state.keys.key_id if state.keys is not None else None


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
