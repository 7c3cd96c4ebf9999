"""The reconciler service: consume snapshots and commands, decide (core), persist, publish.

At-least-once and idempotent (STYLE §4): per batch ONE transaction stores the new state, the events
to publish (outbox) and the consumed offsets; events are published after the commit, then the Kafka
offsets are committed. A redelivered record is skipped by the stored offset; a crash after the commit
republishes the outbox on restart; consumers drop duplicates by per-device version.

A lost database (PostgreSQL restarting, a connection reset) does not stop the service: the batch
is retried with backoff until it is stored; its Kafka offsets are committed only after that, and a
replayed batch is harmless (the stored offsets skip what was already applied). Any other error is
not retried: a bad record is dead-lettered as before, a bug still stops the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from typing import Any

import asyncpg
import stamina
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from ledger_contracts import codec, topics

from ..migrate import apply_migrations
from ..model import Effects, Record
from ..pipeline import process
from ..settings import Settings
from . import postgres as repo

log = structlog.get_logger(__name__)
# A record that does not decode into its topic's contract: (topic, partition, offset, key, value, error).
Poison = tuple[str, int, int, bytes | None, bytes | None, str]

# PostgreSQL gone or restarting: refused/reset sockets (asyncio raises a plain OSError for "Multiple
# exceptions: Connect call failed"), connect timeouts, class 08 (connection exceptions, e.g.
# ConnectionDoesNotExistError), and the server shutting down or starting up (57P01/57P02/57P03).
_CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    # "cannot switch to state N; another operation is in progress": the pool resetting a connection
    # whose server died mid-query (seen in `make chaos`, with no other error in its context).
    asyncpg.exceptions._base.InternalClientError,
)


def is_connection_error(exc: Exception) -> bool:
    """True for an error that a reconnect cures; a data error or a bug is never retried."""
    seen: BaseException | None = exc
    for _ in range(5):  # asyncpg raises e.g. InternalClientError while handling the lost connection
        if seen is None:
            return False
        if isinstance(seen, _CONNECTION_ERRORS):
            return True
        # InterfaceError is also raised for misuse; only its closed-connection form is retried.
        if isinstance(seen, asyncpg.InterfaceError) and "connection" in str(seen) and "closed" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        *,
        pool: asyncpg.Pool | None = None,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self._pool = pool
        self._producer = producer
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self.snapshots = topics.named(topics.SNAPSHOTS, settings.topic_prefix)
        self.commands = topics.named(topics.COMMANDS, settings.topic_prefix)
        self._adapters = {self.snapshots: codec.snapshot_adapter, self.commands: codec.command_adapter}
        self.processed = 0  # records decided (for metrics and tests)
        self._written_since_analyze = 0
        self._rows_at_analyze = 0.0

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "start() first"
        return self._pool

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.settings.database_url,
                min_size=1,
                max_size=4,
                # The device table grows from empty to 100k+ rows within one sync: a generic plan
                # cached while it was small (seq scans) would stay in use. Plan every execution.
                server_settings={"plan_cache_mode": "force_custom_plan"},
                # A hung statement raises TimeoutError, which `handle_until_stored` retries.
                command_timeout=self.settings.db_command_timeout_s,
            )
        async with self.pool.acquire() as conn:
            await apply_migrations(conn)
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                acks="all",
                linger_ms=5,
                max_batch_size=1 << 20,
                enable_idempotence=False,  # the embedded broker rejects InitProducerId; see README
            )
        await self._producer.start()
        await self.flush_outbox()  # events a previous process committed but did not publish
        self._consumer = AIOKafkaConsumer(
            self.snapshots,
            self.commands,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 << 20,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, self.settings.kafka_session_timeout_ms // 4),
        )
        await self._consumer.start()
        log.info("reconciler.started", topics=[self.snapshots, self.commands])

    async def run(self) -> None:
        assert self._consumer is not None, "start() first"
        while not self._stopping.is_set():
            batch = await self._consumer.getmany(timeout_ms=200, max_records=self.settings.max_batch)
            if batch:
                await self.handle_until_stored(batch)

    async def handle_until_stored(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """`handle` the batch, retried with backoff (0.2 s to 5 s, forever) while PostgreSQL is
        unreachable. The consumer keeps its heartbeats meanwhile; nothing is committed to Kafka
        before the batch is stored."""
        async for attempt in stamina.retry_context(
            on=is_connection_error, attempts=None, timeout=None, wait_initial=0.2, wait_max=5.0
        ):
            with attempt:
                if attempt.num > 1:
                    log.warning("batch.retry", attempt=attempt.num, reason="database unreachable")
                    await self.pool.expire_connections()  # none of the old server's connections
                await self.handle(batch)

    async def stop(self) -> None:
        self._stopping.set()
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def handle(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        t0 = time.perf_counter()
        records, poison, last = self._decode(batch)
        t_decode = time.perf_counter()
        async with self.pool.acquire() as conn, conn.transaction():
            await repo.lock_tenants(conn, {r.message.tenant_id for r in records})
            stored = {
                (t, p): o
                for t in {tp.topic for tp in batch}
                for p, o in (await repo.next_offsets(conn, self.settings.group_id, t)).items()
            }
            fresh = [r for r in records if r.offset >= stored.get((r.topic, r.partition), 0)]
            fresh_poison = [p for p in poison if p[2] >= stored.get((p[0], p[1]), 0)]
            t_locked = time.perf_counter()
            store = repo.PgStore(conn)  # load -> fold (pure) -> write, per segment (pipeline.py)
            written = await process(store, fresh, self.settings.topic_prefix)
            t_processed = time.perf_counter()
            dead = Effects()
            for topic, partition, offset, key, value, error in fresh_poison:
                log.warning("record.poison", topic=topic, partition=partition, offset=offset, error=error)
                headers = codec.dead_letter_headers(error, topic, partition, offset, "reconciler")
                dead.outbox.append((topics.dlq(topic), key or b"", value or b"", headers))
            await store.write(dead)
            await repo.store_offsets(conn, self.settings.group_id, last)
        t_write = time.perf_counter()
        self.processed += len(fresh)
        await self._keep_statistics_fresh(written.devices)
        await self.flush_outbox()
        assert self._consumer is not None
        try:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in last.items()})
        except CommitFailedError as exc:
            # The group rebalanced meanwhile (e.g. a heartbeat missed under load): the batch is stored
            # with its offsets, so the next owner of these partitions skips what it is given again.
            log.warning("batch.kafka_commit_failed", error=str(exc))
        log.info(
            "batch.handled",
            records=len(fresh),
            # The snapshot partitions this replica handled (how tenants spread over replicas, issue 12).
            partitions=sorted({p for t, p in last if t == self.snapshots}),
            events=written.events + len(fresh_poison),
            ms_decode=round((t_decode - t0) * 1000),
            ms_lock=round((t_locked - t_decode) * 1000),
            ms_process=round((t_processed - t_locked) * 1000),
            ms_commit=round((t_write - t_processed) * 1000),
            ms_publish=round((time.perf_counter() - t_write) * 1000),
        )

    def _decode(
        self, batch: dict[TopicPartition, list[ConsumerRecord]]
    ) -> tuple[list[Record], list[Poison], dict[tuple[str, int], int]]:
        records: list[Record] = []
        poison: list[Poison] = []
        last: dict[tuple[str, int], int] = {}
        for tp, recs in batch.items():
            adapter = self._adapters[tp.topic]
            for rec in recs:
                try:
                    records.append(
                        Record(tp.topic, tp.partition, rec.offset, codec.decode(adapter, rec.value))
                    )
                except codec.PoisonMessage as exc:
                    poison.append((tp.topic, tp.partition, rec.offset, rec.key, rec.value, str(exc)))
                last[(tp.topic, tp.partition)] = rec.offset + 1
        # Commands and snapshots of one tenant come from different partitions; within a partition
        # the order is kept because records are appended in offset order per partition.
        return records, poison, last

    async def _keep_statistics_fresh(self, written: int) -> None:
        """A first sync grows the device table from empty to 100k rows in seconds, long before
        autovacuum's next look: with stale statistics the planner sorts the whole table on disk to
        join 5,000 bindings. ANALYZE after every 20 % of growth keeps the index plans."""
        self._written_since_analyze += written
        if self._written_since_analyze < max(2000, 0.2 * self._rows_at_analyze):
            return
        async with self.pool.acquire() as conn:
            await conn.execute("ANALYZE reconciler.devices")
            self._rows_at_analyze = await conn.fetchval(
                "SELECT reltuples FROM pg_class WHERE oid = 'reconciler.devices'::regclass"
            )
        self._written_since_analyze = 0

    async def flush_outbox(self) -> None:
        """Publish committed events in order; one flusher at a time across replicas."""
        assert self._producer is not None
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", 0x0B0C)
                rows = await repo.pending_outbox(conn)
                if not rows:
                    return
                futures = []
                for row in rows:
                    headers: list[Any] = [(h, v.encode()) for h, v in json.loads(row["headers"])]
                    futures.append(
                        await self._producer.send(row["topic"], row["value"], key=row["key"], headers=headers)
                    )
                await asyncio.gather(*futures)
                await repo.delete_outbox(conn, rows[-1]["seq"])
            counts: dict[str, int] = defaultdict(int)
            for row in rows:
                counts[row["topic"]] += 1
            log.debug("outbox.flushed", **counts)
