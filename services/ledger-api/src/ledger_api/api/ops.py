"""Operations endpoints (no auth): liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .deps import State
from .responses import LedgerJSONResponse

log = structlog.get_logger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is alive and serving."""
    return LedgerJSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(state: State) -> Response:
    """Ready when PostgreSQL answers and the projection consumer runs (if enabled)."""
    checks: dict[str, str] = {}
    try:
        assert state.pool is not None
        await asyncio.wait_for(state.pool.fetchval("SELECT 1"), 2.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if state.settings.projection_enabled:
        task = state.consumer_task
        running = (
            state.consumer is not None and state.consumer.running and task is not None and not task.done()
        )
        checks["projection"] = "running" if running else "not running"
    ready = checks["database"] == "ok" and checks.get("projection", "running") == "running"
    return LedgerJSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(state: State) -> Response:
    """Prometheus text: requests, projection (records, lag per partition), sync runs, scheduler."""
    try:
        assert state.pool is not None
        rows = await asyncio.wait_for(
            state.pool.fetch("SELECT status, count(*) AS n FROM ledger.sync_runs GROUP BY status"), 2.0
        )
        counts = {r["status"]: r["n"] for r in rows}
        for status in ("requested", "running", "completed", "failed", "refused"):
            state.metrics.sync_runs.labels(status).set(counts.get(status, 0))
    except Exception as exc:  # the scrape still answers with what this process knows
        log.warning("metrics.sync_runs_unavailable", error=type(exc).__name__)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
