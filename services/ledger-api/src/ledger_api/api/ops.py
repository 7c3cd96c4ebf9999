"""Operations endpoints (no auth): liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .deps import State
from .responses import LedgerJSONResponse

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


@router.get("/metrics")
async def metrics(state: State) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
