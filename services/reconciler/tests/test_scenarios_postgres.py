"""The golden scenario corpus again, over PostgreSQL: the SQL store must decide exactly as the
in-memory one (same loads, same run_seen bookkeeping, same conflict and ignore rows)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ledger_contracts import LedgerDevice, codec
from reconciler.adapters.postgres import PgStore, conflict_record
from reconciler.core import ConflictRecord
from reconciler.migrate import apply_migrations
from reconciler.model import Record
from reconciler.pipeline import process

from .scenario_runner import Scenario

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).parent / "scenarios"


class PgBackend:
    """Runs each batch in its own transaction, then reads back what the scenario checks. The
    outbox is never flushed here, so it holds every event published."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.devices: dict[uuid.UUID, LedgerDevice] = {}
        self.conflicts: dict[uuid.UUID, ConflictRecord] = {}
        self._outbox: list[asyncpg.Record] = []

    async def handle(self, records: list[Record]) -> None:
        async with self.conn.transaction():
            await process(PgStore(self.conn), records, "")
        docs = await self.conn.fetch("SELECT doc FROM reconciler.devices")
        self.devices = {d.device_id: d for d in (LedgerDevice.model_validate_json(r["doc"]) for r in docs)}
        rows = await self.conn.fetch("SELECT * FROM reconciler.conflicts")
        self.conflicts = {c.conflict_id: c for r in rows if (c := conflict_record(r)) is not None}
        self._outbox = await self.conn.fetch("SELECT topic, value FROM reconciler.outbox ORDER BY seq")

    def events(self) -> list[Any]:
        return [
            codec.decode(codec.change_adapter, r["value"]) for r in self._outbox if "dlq" not in r["topic"]
        ]

    def topics(self) -> set[str]:
        return {r["topic"] for r in self._outbox}


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(database_url)
    await apply_migrations(c)
    yield c
    await c.close()


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda p: p.stem)
async def test_scenario_on_postgres(path: Path, conn: asyncpg.Connection) -> None:
    spec = json.loads(path.read_text())  # noqa: ASYNC240 - a small local file in a test
    await Scenario(path.stem, spec, PgBackend(conn)).run()
