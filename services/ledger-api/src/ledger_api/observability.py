"""Logs (structlog, JSON, with request ids) and Prometheus metrics of the ledger API."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("ledger_api.http")

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout, for structlog and the standard library alike (called by main())."""
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)


class Metrics:
    """One registry per app, so two apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "ledger_api_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "ledger_api_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=r,
        )
        self.records = Counter(
            "ledger_api_projection_records_total", "Change records consumed (incl. skipped)", registry=r
        )
        self.devices_written = Counter(
            "ledger_api_projected_device_changes_total", "Device rows written or deleted", registry=r
        )
        self.history_added = Counter(
            "ledger_api_projected_history_entries_total", "Device history entries added", registry=r
        )
        self.sync_runs_written = Counter(
            "ledger_api_projected_sync_runs_total", "Sync run summaries applied", registry=r
        )
        self.dead_letters = Counter(
            "ledger_api_projection_dead_letters_total", "Poison records sent to the DLQ", registry=r
        )
        self.batch_seconds = Histogram(
            "ledger_api_projection_batch_seconds", "Time to apply one batch", registry=r
        )
        self.last_offset = Gauge(
            "ledger_api_projection_last_offset", "Last projected offset", ["partition"], registry=r
        )
        self.lag = Gauge(
            "ledger_api_projection_lag_records", "High watermark minus next offset", ["partition"], registry=r
        )
        self.sync_requests = Counter(
            "ledger_api_sync_requests_total",
            "Sync runs this process requested, by trigger and outcome (requested | failed)",
            ["trigger", "outcome"],
            registry=r,
        )
        self.sync_runs = Gauge(
            "ledger_api_sync_runs",
            "Sync runs in the database by status (read at scrape)",
            ["status"],
            registry=r,
        )
        self.scheduler_ticks = Counter("ledger_api_scheduler_ticks_total", "Scheduler ticks", registry=r)
        self.scheduler_last_tick = Gauge(
            "ledger_api_scheduler_last_tick_timestamp_seconds",
            "Unix time of the last scheduler tick",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestContextMiddleware:
    """Request id (from `X-Request-ID` or new), bound to every log line; access log; metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER.encode():
                candidate = value.decode("latin-1")
                request_id = candidate if _VALID_REQUEST_ID.fullmatch(candidate) else None
        request_id = request_id or uuid.uuid4().hex
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope["method"]
                self.metrics.requests.labels(method, template, str(status)).inc()
                self.metrics.latency.labels(method, template).observe(elapsed)
                log.info(
                    "http.request",
                    method=method,
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
