"""Where snapshot events go: Kafka in production, a list in handler tests.

Events are keyed by tenant id (`codec.encode`), so a run's messages stay in order on one partition.
`publish` enqueues without waiting for the broker (devices stream out as pages arrive); `flush`
waits until every enqueued event is acknowledged and raises if any was not — the service flushes
before `SyncRunCompleted`, so a completed run always has every device on the topic before it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError

from ledger_contracts import Event, codec

_MAX_UNACKED = 5000  # bounds memory on a 100k-device pull; the producer batches well below it


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def flush(self) -> None: ...


class KafkaPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self._unacked: list[asyncio.Future[object]] = []

    async def publish(self, event: Event) -> None:
        key, value = codec.encode(event)
        self._unacked.append(await self._producer.send(self._topic, value=value, key=key))
        if len(self._unacked) >= _MAX_UNACKED:
            await self.flush()

    async def flush(self) -> None:
        unacked, self._unacked = self._unacked, []
        if unacked:
            await asyncio.gather(*unacked)


class ListPublisher:
    """In-memory publisher for handler tests (STYLE §7: fakes, not mocks)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_after: int | None = None  # raise on the n-th publish, to test failure paths

    async def publish(self, event: Event) -> None:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise KafkaConnectionError("simulated broker failure")
        self.events.append(event)

    async def flush(self) -> None:
        return None


def new_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    # No idempotence: the embedded broker (Tansu) rejects InitProducerId. acks="all" keeps what
    # is acknowledged durable; a little linger batches the device stream.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=20,
        max_batch_size=1 << 20,
        request_timeout_ms=30_000,
    )
