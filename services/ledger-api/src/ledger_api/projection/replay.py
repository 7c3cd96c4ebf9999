"""R-E4: rebuild the API's projected tables from `ledger.changes.v1`, from the first record.

`ledger-api replay` (or `python -m ledger_api replay`), while the API runs or not:

1. The projected tables are created empty in a scratch schema (`ledger_replay`, `LIKE` the live
   ones). A consumer with no group, partitions assigned by hand, reads every partition from offset
   0 and projects with the very code of the live projection (`projection.write.project_batch`), its SQL
   pointed at the scratch schema. It stops at the offsets the live projection has reached.
2. Then, in ONE transaction that holds the live projection still (a lock on its offsets table), the
   last records up to the live offsets are replayed, the API-owned columns of sync runs are carried
   over, and each live table's rows are replaced by the rebuilt ones (readers see the old ledger or
   the new one, never a mix). `--verify` compares instead of replacing and changes nothing.

Needs every record since the first: the topic must be kept forever (`retention.ms=-1`, not
compacted). A partition whose first records are gone makes the replay fail rather than rebuild less.
Tables the API owns (tenants, tokens, integrations, master links, custom fields, usage history,
imports as requested) are not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from ledger_contracts import topics

from ..adapters import db
from ..observability import configure_logging
from ..settings import Settings
from .decode import Poison, decode_record
from .write import project_batch

log = structlog.get_logger(__name__)

SCHEMA = "ledger_replay"
# Every table the projection writes. A new projected table must be added here (test_replay fails
# otherwise: its rows would survive a rebuild unchecked).
PROJECTED: tuple[str, ...] = (
    "devices",
    "device_tombstones",
    "device_history",
    "sync_runs",
    "sync_run_issues",
    "conflicts",
    "dry_run_items",
    "command_rejections",
    "import_results",
)
# Written by the projection but not rebuilt from events: the time a row was projected.
_NOT_COMPARED = {"device_history": ("projected_at",)}
_REPLAY_LOCK = 0x2E91A7  # one replay at a time (session-level advisory lock)
# sync_runs: a run the API requested is recorded before any summary; these columns are the API's.
_RUN_REQUEST_COLUMNS = ("trigger", "requested_at", "created_at")


class ReplayError(RuntimeError):
    pass


class _InSchema:
    """An asyncpg connection whose SQL names the scratch schema instead of `ledger` for the
    projected tables: the live projection's code runs unchanged against the rebuild."""

    _PATTERN = re.compile(r"\bledger\.(" + "|".join((*PROJECTED, "consumer_offsets")) + r")\b")

    def __init__(self, conn: asyncpg.Connection, schema: str) -> None:
        self._conn = conn
        self._to = schema + r".\1"

    def _sql(self, query: str) -> str:
        return self._PATTERN.sub(self._to, query)

    async def execute(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._conn.execute(self._sql(query), *args, **kw)

    async def executemany(self, query: str, args: Any, **kw: Any) -> Any:
        return await self._conn.executemany(self._sql(query), args, **kw)

    async def fetch(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._conn.fetch(self._sql(query), *args, **kw)

    async def fetchrow(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._conn.fetchrow(self._sql(query), *args, **kw)

    async def fetchval(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._conn.fetchval(self._sql(query), *args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass
class ReplayResult:
    records: int = 0
    skipped_poison: int = 0
    offsets: dict[int, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # rebuilt rows per table
    differences: dict[str, int] = field(default_factory=dict)  # table -> rows differing from live
    swapped: bool = False


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    """Insertable columns (generated ones are computed again)."""
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'ledger' "
        "AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
        table,
    )
    return [r["column_name"] for r in rows]


class Replay:
    """`conn` compares and swaps (and holds the lock); `work` projects into the scratch schema,
    committing batch by batch as the live projection does."""

    def __init__(
        self,
        settings: Settings,
        conn: asyncpg.Connection,
        work: asyncpg.Connection,
        consumer: AIOKafkaConsumer,
    ) -> None:
        self.topic = topics.named(topics.CHANGES, settings.topic_prefix)
        self.group = settings.consumer_group
        self.conn = conn
        self.rebuild = _InSchema(work, SCHEMA)
        self.consumer = consumer
        self.done: dict[int, int] = {}  # partition -> next offset to replay
        self.result = ReplayResult()

    async def prepare(self) -> None:
        if not await self.conn.fetchval("SELECT pg_try_advisory_lock($1)", _REPLAY_LOCK):
            raise ReplayError("another replay is running")
        await self.conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        for table in (*PROJECTED, "consumer_offsets"):
            await self.conn.execute(f"CREATE TABLE {SCHEMA}.{table} (LIKE ledger.{table} INCLUDING ALL)")
        partitions = self.consumer.partitions_for_topic(self.topic)
        if not partitions:
            await self.consumer._client.force_metadata_update()
            partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        for tp, first in (await self.consumer.beginning_offsets(tps)).items():
            if first > 0:
                raise ReplayError(
                    f"{self.topic} partition {tp.partition} starts at offset {first}: earlier changes were "
                    "deleted by retention, so the ledger cannot be rebuilt (keep the topic forever)"
                )
            self.done[tp.partition] = 0

    async def live_offsets(self) -> dict[int, int]:
        rows = await self.conn.fetch(
            "SELECT partition, next_offset FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
            self.group,
            self.topic,
        )
        return {r["partition"]: r["next_offset"] for r in rows}

    async def catch_up(self, targets: dict[int, int]) -> None:
        """Project every record below `targets` (per partition) not replayed yet."""
        pending = {p for p, t in targets.items() if self.done.get(p, 0) < t}
        for p in pending:
            self.consumer.seek(TopicPartition(self.topic, p), self.done.get(p, 0))
        while pending:
            tps = [TopicPartition(self.topic, p) for p in pending]
            batch = await self.consumer.getmany(*tps, timeout_ms=1000, max_records=5000)
            decoded = []
            for tp, records in batch.items():
                target = targets[tp.partition]
                for r in records:
                    if r.offset >= target:
                        break
                    decoded.append(decode_record(r))
                    self.done[tp.partition] = r.offset + 1
                if records and records[-1].offset + 1 >= target:
                    self.done[tp.partition] = target  # offsets may have gaps (e.g. transaction markers)
            if decoded:
                await project_batch(
                    self.rebuild, decoded, group_id=self.group, topic=self.topic, dead_letter=self._skip
                )
                self.result.records += len(decoded)
            pending = {p for p in pending if self.done[p] < targets[p]}

    async def _skip(self, poison: Sequence[Poison]) -> None:
        """Poison records went to the dead-letter topic when first met; a replay skips them."""
        self.result.skipped_poison += len(poison)

    async def _carry_over_run_requests(self) -> None:
        cols = ", ".join(f"{c} = l.{c}" for c in _RUN_REQUEST_COLUMNS)
        await self.conn.execute(
            f"UPDATE {SCHEMA}.sync_runs r SET {cols} FROM ledger.sync_runs l "
            "WHERE l.sync_run_id = r.sync_run_id AND l.requested_at IS NOT NULL"
        )
        # Requested runs no summary ever reached (or whose publication failed) are the API's alone.
        await self.conn.execute(
            f"INSERT INTO {SCHEMA}.sync_runs SELECT * FROM ledger.sync_runs l WHERE NOT EXISTS "
            f"(SELECT 1 FROM {SCHEMA}.sync_runs r WHERE r.sync_run_id = l.sync_run_id)"
        )

    async def differences(self) -> dict[str, int]:
        out = {}
        for table in PROJECTED:
            cols = [c for c in await _columns(self.conn, table) if c not in _NOT_COMPARED.get(table, ())]
            listed = ", ".join(cols)
            n = await self.conn.fetchval(
                f"SELECT count(*) FROM ((SELECT {listed} FROM ledger.{table} EXCEPT ALL "
                f"SELECT {listed} FROM {SCHEMA}.{table}) UNION ALL (SELECT {listed} FROM {SCHEMA}.{table} "
                f"EXCEPT ALL SELECT {listed} FROM ledger.{table})) d"
            )
            if n:
                out[table] = n
        return out

    async def _replace_live(self) -> None:
        for table in PROJECTED:
            listed = ", ".join(await _columns(self.conn, table))
            await self.conn.execute(f"DELETE FROM ledger.{table}")
            await self.conn.execute(
                f"INSERT INTO ledger.{table} ({listed}) OVERRIDING SYSTEM VALUE "
                f"SELECT {listed} FROM {SCHEMA}.{table}"
            )
        await self.conn.execute(
            "DELETE FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2", self.group, self.topic
        )
        await self.conn.execute(
            f"INSERT INTO ledger.consumer_offsets SELECT * FROM {SCHEMA}.consumer_offsets "
            "WHERE group_id = $1 AND topic = $2",
            self.group,
            self.topic,
        )

    async def finish(self, *, swap: bool) -> None:
        """Under the lock: replay up to the live position, then compare, and swap if asked."""
        async with self.conn.transaction():
            # EXCLUSIVE blocks the live projection at its first statement of a batch (it reads its
            # offsets FOR UPDATE) and waits for a batch in progress to commit; readers go on.
            await self.conn.execute("LOCK TABLE ledger.consumer_offsets IN EXCLUSIVE MODE")
            # Runs requested meanwhile (sync now, the scheduler) wait too, so none is lost by the swap.
            await self.conn.execute("LOCK TABLE ledger.sync_runs IN SHARE MODE")
            live = await self.live_offsets()
            await self.catch_up(live)
            self.result.offsets = dict(live)
            await self._carry_over_run_requests()
            self.result.differences = await self.differences()
            for table in PROJECTED:
                self.result.rows[table] = await self.conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.{table}")
            if swap:
                await self._replace_live()
                self.result.swapped = True
            await self.conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


async def run(settings: Settings, *, swap: bool = True) -> ReplayResult:
    conn = await asyncpg.connect(settings.database_dsn(), server_settings={"timezone": "UTC"})
    work = await asyncpg.connect(settings.database_dsn(), server_settings={"timezone": "UTC"})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,  # manual assignment: no group, no join, no committed offsets
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await db.migrate(conn)
        replay = Replay(settings, conn, work, consumer)
        await replay.prepare()
        # Most of the work outside the lock: up to where the live projection is now.
        await replay.catch_up(await replay.live_offsets())
        await replay.finish(swap=swap)
        log.info(
            "replay.done",
            records=replay.result.records,
            swapped=replay.result.swapped,
            differences=replay.result.differences,
        )
        return replay.result
    finally:
        await consumer.stop()
        await work.close()
        await conn.close()  # ends the session: its advisory lock goes with it


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ledger-api replay", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--verify", action="store_true", help="rebuild and compare with the live tables; change nothing"
    )
    args = parser.parse_args(argv)
    settings = Settings()  # database_url comes from the environment
    configure_logging(settings.log_level)
    result = asyncio.run(run(settings, swap=not args.verify))
    print(
        f"replayed {result.records} records up to {result.offsets}; rows {result.rows}; "
        f"differences from the live ledger: {result.differences or 'none'}; "
        f"{'swapped in' if result.swapped else 'live tables unchanged'}",
        file=sys.stderr,
    )
    return 1 if args.verify and result.differences else 0
