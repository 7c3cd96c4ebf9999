"""Numbered SQL migrations, applied once each under an advisory lock (safe with several replicas)."""

from __future__ import annotations

from importlib import resources

import structlog

from .adapters.postgres.connection import Connection

log = structlog.get_logger(__name__)
_LOCK_ID = 0x7265636F6E  # "recon"


async def apply_migrations(conn: Connection, schema: str = "reconciler") -> list[str]:
    files = sorted(
        (f for f in resources.files("reconciler.migrations").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,
    )
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
        for f in files:
            if f.name in done:
                continue
            await conn.execute(f.read_text())
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", f.name)
            applied.append(f.name)
    if applied:
        log.info("migrations.applied", names=applied)
    return applied
