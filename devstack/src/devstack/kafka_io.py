"""Small producer/consumer helpers for tests and the demo: publish contracts, read a topic."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import TypeAdapter

from ledger_contracts import Event, codec


async def publish(bootstrap: str, topic: str, events: list[Event]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for ev in events:
            key, value = codec.encode(ev)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    adapter: TypeAdapter[Any] | None = None,
    *,
    until: int | None = None,
    timeout: float = 20.0,
    idle: float = 1.0,
) -> list[Any]:
    """Read every partition of `topic` from the beginning until `until` records or `idle` s of silence.

    Partitions are assigned by hand (no consumer group), so reading starts at once."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        await consumer._client.force_metadata_update()  # a topic created a moment ago
        partitions = consumer.partitions_for_topic(topic) or {0}
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    await consumer.seek_to_beginning()
    out: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_data = loop.time()
    try:
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                for r in recs:
                    out.append(codec.decode(adapter, r.value) if adapter else r)
            if batch:
                last_data = loop.time()
            if until is not None and len(out) >= until:
                break
            if until is None and out and loop.time() - last_data > idle:
                break
    finally:
        await consumer.stop()
    return out
