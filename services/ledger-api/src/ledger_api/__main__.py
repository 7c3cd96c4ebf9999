"""`ledger-api` / `python -m ledger_api`: settings from the environment (LEDGER_API_*), then uvicorn.
`ledger-api replay [--verify]` rebuilds the projected tables from ledger.changes.v1 (replay.py).
`ledger-api create-tenant <tenant_id> --name … [--time-zone …] [--sync-time HH:MM]` (operator):
a tenant and its first admin token, printed once on stdout (R-A3)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import time

import structlog
import uvicorn
from fastapi import FastAPI

from .app import build_app
from .observability import configure_logging
from .settings import Settings


def main() -> None:
    if sys.argv[1:2] == ["replay"]:
        from .projection import replay

        sys.exit(replay.main(sys.argv[2:]))
    if sys.argv[1:2] == ["create-tenant"]:
        sys.exit(create_tenant(sys.argv[2:]))
    settings = Settings()  # database_url comes from the environment
    configure_logging(settings.log_level)
    # Several workers: uvicorn starts each from the import string (every one reads the environment).
    app: FastAPI | str = build_app(settings) if settings.workers == 1 else "ledger_api.__main__:worker_app"
    uvicorn.run(
        app,
        factory=settings.workers > 1,
        workers=settings.workers if settings.workers > 1 else None,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our JSON logging; uvicorn's own loggers propagate to it
        access_log=False,  # the request middleware logs each request with its request id
        lifespan="on",
        # issue 12: uvloop's event loop and httptools' HTTP parser (C) instead of asyncio's loop and
        # h11 (pure Python): less CPU per request, which is what bounds p99 at 50 clients.
        loop="uvloop",
        http="httptools",
    )


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (LEDGER_API_WORKERS > 1)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return build_app(settings)


def create_tenant(argv: list[str]) -> int:
    """The operator command: needs only LEDGER_API_DATABASE_URL (the migrations are applied first).
    Prints the new admin token alone on stdout (once: only its sha256 is stored); 1 when the
    tenant exists already or an argument is bad (named on stderr)."""
    parser = argparse.ArgumentParser(
        prog="ledger-api create-tenant", description="Create a tenant and its first admin API token."
    )
    parser.add_argument("tenant_id")
    parser.add_argument("--name", required=True, help="the tenant's display name")
    parser.add_argument("--time-zone", default="UTC", help="IANA zone (default UTC)")
    parser.add_argument("--sync-time", default="06:00", help="default daily sync time, HH:MM (06:00)")
    parser.add_argument("--token-name", default="first admin", help="name of the admin token")
    args = parser.parse_args(argv)
    try:
        sync_time = time.fromisoformat(args.sync_time)
    except ValueError:
        parser.error(f"--sync-time: expected HH:MM, got {args.sync_time!r}")
    settings = Settings()
    # Logs go to stderr here: stdout carries the token only (scripts read it from there).
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    try:
        _, secret = asyncio.run(_create_tenant(settings, args, sync_time))
    except ValueError as exc:  # TenantExists, or a bad argument named by the seed's rules
        print(f"create-tenant: {exc}", file=sys.stderr)
        return 1
    print(secret)
    return 0


async def _create_tenant(settings: Settings, args: argparse.Namespace, sync_time: time) -> tuple[object, str]:
    from . import bootstrap
    from .adapters import db

    pool = await db.create_pool(settings.database_dsn(), min_size=1, max_size=2)
    try:
        await db.apply_migrations(pool)
        return await bootstrap.create_tenant(
            pool,
            args.tenant_id,
            name=args.name,
            time_zone=args.time_zone,
            sync_time=sync_time,
            token_name=args.token_name,
        )
    finally:
        await pool.close()


if __name__ == "__main__":
    main()
