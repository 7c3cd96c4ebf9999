"""Small producer/consumer helpers for tests and the demo: publish contracts, read a topic."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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
    stop_when: Callable[[Any], bool] | None = None,
    timeout: float = 20.0,
) -> list[Any]:
    """Every record of every partition of `topic`, from the beginning, decoded with `adapter` if given.

    How far it reads never depends on silence:
    - `until=N`: until N records are there (waiting for them, at most `timeout` s);
    - otherwise up to the end offsets (high-watermarks) the partitions had when the call began, and
      then, if `stop_when` is given and no record so far satisfied it, on until one does (an
      end-of-stream marker such as a run's `SyncRunCompleted`), at most `timeout` s.
    Partitions are assigned by hand (no consumer group), so reading starts at once."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # a topic created a moment ago
            partitions = consumer.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning()
        end = await consumer.end_offsets(tps)
        out: list[Any] = []
        marker_seen = stop_when is None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def done() -> bool:
            if until is not None:
                return len(out) >= until
            return marker_seen and all(seen[tp] >= end[tp] for tp in tps)

        seen = {tp: 0 for tp in tps}
        while not done() and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for tp, recs in batch.items():
                for r in recs:
                    value = codec.decode(adapter, r.value) if adapter else r
                    out.append(value)
                    seen[tp] = r.offset + 1
                    if stop_when is not None and stop_when(value):
                        marker_seen = True
            for tp in tps:  # offsets without a record (transaction markers) count as read
                seen[tp] = max(seen[tp], min(await consumer.position(tp), end[tp]))
        return out
    finally:
        await consumer.stop()
