"""The pool's cheap reset (issue 12): a connection comes back to the pool with nothing left open."""

from __future__ import annotations

import pytest

from ledger_api.adapters import db

pytestmark = pytest.mark.integration


async def test_a_connection_released_inside_a_transaction_comes_back_rolled_back(database_url: str) -> None:
    """Only a ROLLBACK replaces asyncpg's default reset (one round trip less per request): what a
    failed request left uncommitted is gone, and the next user of the connection is outside any
    transaction."""
    pool = await db.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS pool_reset_probe (n integer)")
            await conn.execute("BEGIN")  # unmanaged: as if a handler died between BEGIN and COMMIT
            await conn.execute("INSERT INTO pool_reset_probe VALUES (1)")
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # the same connection
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT count(*) FROM pool_reset_probe") == 0
            assert await conn.fetchval("SHOW timezone") == "UTC"  # the pool's settings are kept
    finally:
        await pool.close()
