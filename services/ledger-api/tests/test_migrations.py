"""Migrations: numbered SQL files, applied once, under a lock, recorded; edits of applied ones refused."""

from __future__ import annotations

import asyncio
import dataclasses

import asyncpg
import pytest

from ledger_api.adapters import db

pytestmark = pytest.mark.integration


async def test_migrations_apply_once_and_twice_is_a_no_op(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        expected = [m.version for m in db.load_migrations()]
        assert expected and expected[0] == 1
        # Two instances starting together: the advisory lock makes one wait for the other.
        first, second = await asyncio.gather(db.apply_migrations(pool), db.apply_migrations(pool))
        assert sorted(first + second) == expected
        assert await db.apply_migrations(pool) == []
        recorded = await pool.fetch("SELECT version, name FROM ledger.schema_migrations ORDER BY version")
        assert [r["version"] for r in recorded] == expected
        tables = {
            r["table_name"]
            for r in await pool.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ledger'"
            )
        }
        assert {
            "tenants",
            "api_tokens",
            "integrations",
            "master_links",
            "devices",
            "device_tombstones",
            "device_history",
            "sync_runs",
            "consumer_offsets",
            "schema_migrations",
        } <= tables
    finally:
        await pool.close()


async def test_an_applied_migration_that_changed_is_refused(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        migrations = db.load_migrations()
        await db.apply_migrations(pool, migrations)
        edited = [dataclasses.replace(migrations[0], sql=migrations[0].sql + "\n-- edited")]
        with pytest.raises(db.MigrationError, match="changed after it was applied"):
            await db.apply_migrations(pool, edited)
    finally:
        await pool.close()


async def test_a_failing_migration_leaves_nothing_behind(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        broken = [*db.load_migrations(), db.Migration(999, "broken", "CREATE TABLE ledger.x (); SELECT 1/0;")]
        with pytest.raises(asyncpg.DivisionByZeroError):
            await db.apply_migrations(pool, broken)
        assert await pool.fetchval("SELECT to_regclass('ledger.schema_migrations')") is None
    finally:
        await pool.close()


@pytest.mark.unit
def test_every_sql_file_is_a_numbered_migration() -> None:
    """A misnamed file would be skipped silently: every .sql file must be NNNN_name.sql, once."""
    from importlib import resources

    files = sorted(
        e.name
        for e in (resources.files("ledger_api.adapters") / "migrations").iterdir()
        if e.name.endswith(".sql")
    )
    loaded = db.load_migrations()
    assert [f"{m.version:04d}_{m.name}.sql" for m in loaded] == files
    assert loaded[0].version == 1 and len({m.version for m in loaded}) == len(loaded)
