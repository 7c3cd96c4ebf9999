"""The projection consumer: `ledger.changes.v1` → PostgreSQL, at least once, idempotently.

PostgreSQL holds the truth about what was projected (`ledger.consumer_offsets`, written in the
batch's transaction); Kafka's committed offsets are only a hint, committed after the database.
On assignment and after any failure the consumer seeks to the stored offsets, so nothing is lost
and nothing is applied twice.

While the database applies batch N, the next batch is fetched and decoded (decoding is CPU in
this process, applying is mostly CPU in PostgreSQL), which roughly halves the time of a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import stamina
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from ledger_contracts import topics

from ..observability import Metrics
from .decode import Decoded, Poison, dead_letter_headers, decode_record
from .write import project_batch, stored_offsets

log = structlog.get_logger(__name__)

# What a batch may fail with and be retried from the stored offsets (anything else is a bug).
_BATCH_ERRORS = (TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, KafkaError)


def _retry(
    *, on: type[Exception] | tuple[type[Exception], ...], wait_max: float
) -> AsyncIterator[stamina.Attempt]:
    """Retry forever (the projection never gives up), exponential backoff from 0.5 s to `wait_max`."""
    return stamina.retry_context(
        on=on, attempts=None, timeout=None, wait_initial=0.5, wait_max=wait_max, wait_jitter=0.25
    )


class _SeekToStored(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped (Any)
    def __init__(self, projector: ProjectionConsumer) -> None:
        self._projector = projector

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        await self._projector.seek_to_stored(list(assigned))


class ProjectionConsumer:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        topic_prefix: str,
        group_id: str,
        metrics: Metrics,
        on_projected: Callable[[], None] = lambda: None,
        max_records: int = 5000,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.topic = topics.named(topics.CHANGES, topic_prefix)
        self.dlq_topic = topics.dlq(self.topic)
        self.group_id = group_id
        self._pool = pool
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self._metrics = metrics
        self._on_projected = on_projected
        self._max_records = max_records
        self._session_timeout_ms = session_timeout_ms
        self._consumer: AIOKafkaConsumer | None = None
        # One connection of the pool held by the projection: no acquire/reset round trips per batch.
        self._conn: asyncpg.pool.PoolConnectionProxy | None = None
        self._kafka_commit: asyncio.Task[None] | None = None
        self._to_commit: dict[TopicPartition, int] = {}
        self.running = False

    async def run(self) -> None:
        """Consume until cancelled. Failures are logged and retried from the stored offsets."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Big fetches: a replay is bounded by round trips otherwise.
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 4, 100),
        )
        self._consumer = consumer
        consumer.subscribe([self.topic], listener=_SeekToStored(self))
        async for attempt in _retry(on=KafkaError, wait_max=10):
            with attempt:
                try:
                    await consumer.start()
                except KafkaError as exc:
                    log.warning("projection.broker_unavailable", error=str(exc), attempt=attempt.num)
                    raise
        self.running = True
        log.info("projection.started", topic=self.topic, group=self.group_id)
        try:
            # _pump only returns by raising; after a failure the next attempt first seeks back to
            # the stored offsets, so the batch that failed is fetched again.
            async for attempt in _retry(on=_BATCH_ERRORS, wait_max=30):
                with attempt:
                    if attempt.num > 1:
                        await self._rewind(consumer)
                    try:
                        await self._pump(consumer)
                    except _BATCH_ERRORS as exc:
                        log.error("projection.batch_failed", error=repr(exc), attempt=attempt.num)
                        await self._release()
                        raise
        finally:
            self.running = False
            if self._kafka_commit is not None:
                self._kafka_commit.cancel()
            await self._release()
            await consumer.stop()

    async def _pump(self, consumer: AIOKafkaConsumer) -> None:
        pending: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                if not batch:
                    if pending is not None:
                        await pending
                        pending = None
                    continue
                decoded = await _decode(batch)
                if pending is not None:
                    await pending
                pending = asyncio.create_task(self._apply(consumer, decoded))
                await asyncio.sleep(0)  # let it send its first statements before we fetch on
        finally:
            if pending is not None:
                # Let it finish rolling back before its connection is released or reused.
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _apply(self, consumer: AIOKafkaConsumer, decoded: list[Decoded]) -> None:
        started = time.perf_counter()
        if self._conn is None:
            self._conn = await self._pool.acquire()
        result = await project_batch(
            self._conn, decoded, group_id=self.group_id, topic=self.topic, dead_letter=self._dead_letter
        )
        m = self._metrics
        m.batch_seconds.observe(time.perf_counter() - started)
        m.records.inc(result.records)
        m.devices_written.inc(result.devices_written + result.devices_deleted)
        m.history_added.inc(result.history_added)
        m.sync_runs_written.inc(result.sync_runs_written)
        m.dead_letters.inc(result.dead_lettered)
        self._on_projected()
        offsets = {TopicPartition(self.topic, p): o for p, o in result.next_offsets.items()}
        # Kafka's offsets are a hint (the database has the truth): committed in the background,
        # one commit in flight at a time, so the next batch does not wait for the broker.
        self._to_commit.update(offsets)
        if self._kafka_commit is None or self._kafka_commit.done():
            self._kafka_commit = asyncio.create_task(self._commit_hints(consumer))
        for tp, nxt in offsets.items():
            m.last_offset.labels(str(tp.partition)).set(nxt - 1)
            high = consumer.highwater(tp)
            if high is not None:
                m.lag.labels(str(tp.partition)).set(max(high - nxt, 0))
        if result.dead_lettered or result.skipped:
            log.info(
                "projection.batch",
                records=result.records,
                skipped=result.skipped,
                dead_lettered=result.dead_lettered,
            )

    async def _commit_hints(self, consumer: AIOKafkaConsumer) -> None:
        while self._to_commit:
            offsets, self._to_commit = self._to_commit, {}
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, KafkaError) as exc:
                log.warning("projection.kafka_commit_failed", error=str(exc))

    async def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._pool.release(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                log.warning("projection.release_failed", error=repr(exc))

    async def _dead_letter(self, poison: Sequence[Poison]) -> None:
        futures = [
            await self._producer.send(
                self.dlq_topic, key=p.key, value=p.value, headers=dead_letter_headers(p, self.topic)
            )
            for p in poison
        ]
        await asyncio.gather(*futures)
        for p in poison:
            log.warning("projection.dead_lettered", partition=p.partition, offset=p.offset, error=p.error)

    async def seek_to_stored(self, assigned: list[TopicPartition]) -> None:
        """Position every assigned partition at the offset PostgreSQL says comes next."""
        consumer = self._consumer
        if consumer is None or not assigned:
            return
        async with self._pool.acquire() as conn:
            stored = await stored_offsets(conn, self.group_id, self.topic)
        fresh = []
        for tp in assigned:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
            else:
                fresh.append(tp)
        if fresh:
            await consumer.seek_to_beginning(*fresh)

    async def _rewind(self, consumer: AIOKafkaConsumer) -> None:
        """Seek back to the stored offsets; retried until it works, since going on from the
        fetch position could skip the batch that failed."""
        async for attempt in _retry(on=(TimeoutError, asyncpg.PostgresError, OSError), wait_max=30):
            with attempt:
                try:
                    await self.seek_to_stored(list(consumer.assignment()))
                except (TimeoutError, asyncpg.PostgresError, OSError) as exc:
                    log.warning("projection.rewind_failed", error=repr(exc), attempt=attempt.num)
                    raise


_DECODE_SLICE = 100


async def _decode(batch: dict[TopicPartition, list[Any]]) -> list[Decoded]:
    """Decode a batch, handing the event loop back every few hundred records: the previous
    batch's transaction (and HTTP requests) go on between the slices instead of waiting for the
    whole batch."""
    records = [r for recs in batch.values() for r in recs]
    out: list[Decoded] = []
    for start in range(0, len(records), _DECODE_SLICE):
        # The cyclic GC would rescan the thousands of freshly decoded, still alive models many
        # times over; they form no cycles, so it pauses while a slice is decoded.
        enabled = gc.isenabled()
        gc.disable()
        try:
            out.extend(decode_record(r) for r in records[start : start + _DECODE_SLICE])
        finally:
            if enabled:
                gc.enable()
        await asyncio.sleep(0)
    return out
