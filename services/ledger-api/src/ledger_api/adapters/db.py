"""The PostgreSQL pool and the numbered SQL migrations (applied at start-up under an advisory lock)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TypeAlias

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# What repositories take: a connection of the pool (`async with pool.acquire() as conn`) or a plain
# one (the replay, tests); they behave alike.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# Any constant shared by every instance of this service: serialises concurrent start-ups.
_MIGRATION_LOCK = 0x1ED6E8A91


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


async def _reset(conn: asyncpg.Connection) -> None:
    """On release to the pool: roll back what a failed request left open. asyncpg's default reset
    also runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` -- one more round
    trip on every request (issue 12: about a third of a small read's CPU). This service keeps no
    session state on pooled connections (no session SET, LISTEN, session advisory lock or WITH HOLD
    cursor; transaction-level locks and cursors end with their transaction)."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    # Timestamps leave the database in UTC whatever the server's default zone is.
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"timezone": "UTC", "temp_buffers": "32MB"},
        reset=_reset,
    )


def load_migrations() -> list[Migration]:
    """Every `NNNN_name.sql` shipped in `ledger_api/adapters/migrations`, in order."""
    found = []
    for entry in (resources.files("ledger_api.adapters") / "migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_([a-z0-9_]+)\.sql", entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers: {versions}")
    return found


async def apply_migrations(pool: asyncpg.Pool, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet recorded, on a connection of `pool` (see `migrate`)."""
    async with pool.acquire() as conn:
        return await migrate(conn, migrations)


async def migrate(conn: Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not yet recorded; returns the versions applied now.

    One transaction under a transaction-level advisory lock: instances starting together wait for
    each other, and a failing migration leaves nothing half applied.
    """
    migrations = load_migrations() if migrations is None else migrations
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            """
            CREATE SCHEMA IF NOT EXISTS ledger;
            CREATE TABLE IF NOT EXISTS ledger.schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        done = {
            r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM ledger.schema_migrations")
        }
        for mig in migrations:
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise MigrationError(
                        f"migration {mig.version:04d}_{mig.name} changed after it was applied"
                    )
                continue
            await conn.execute(mig.sql)
            await conn.execute(
                "INSERT INTO ledger.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                mig.version,
                mig.name,
                mig.checksum,
            )
            applied_now.append(mig.version)
    if applied_now:
        log.info("db.migrated", versions=applied_now)
    return applied_now
