"""The subscriber against the embedded broker (Tansu): commit after a finished run, none after a
graceful stop mid-pull, and the next instance re-runs the request under a new attempt (R-M13)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connector_kit.subscriber import SyncRequestSubscriber
from ledger_contracts import codec, topics

from .conftest import FakeConnector, FakeSettings, Script, integrations, request

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def running(kafka: tuple[str, str], script: Script) -> AsyncIterator[SyncRequestSubscriber]:
    bootstrap, prefix = kafka
    settings = FakeSettings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}fake-connector",
        kafka_session_timeout_ms=6000,
    )
    sub = SyncRequestSubscriber(
        FakeConnector(settings, script, integrations=integrations()), settings, client_name="fake-connector"
    )
    task = asyncio.create_task(sub.run())
    try:
        await asyncio.wait_for(sub.ready.wait(), 30)
        yield sub
    finally:
        await sub.stop()
        await asyncio.wait_for(task, 30)


async def send(kafka: tuple[str, str], value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka[0])
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.named(topics.SYNC_REQUESTS, kafka[1]), value=value, key=b"tenant-k"
        )
    finally:
        await producer.stop()


async def read_until(kafka: tuple[str, str], topic: str, done: Callable[[list[Any]], bool]) -> list[Any]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka[0], auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        async with asyncio.timeout(30):
            while not done(records):
                batch = await consumer.getmany(timeout_ms=500)
                records += [
                    codec.decode(codec.snapshot_adapter, r.value) for rs in batch.values() for r in rs
                ]
        return records
    finally:
        await consumer.stop()


async def committed_and_end(kafka: tuple[str, str]) -> tuple[int, int]:
    """(committed offset of the connector's group, end offset) summed over the requests topic."""
    bootstrap, prefix = kafka
    topic = topics.named(topics.SYNC_REQUESTS, prefix)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=f"{prefix}fake-connector", enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
        committed = [await consumer.committed(tp) or 0 for tp in parts]
        return sum(committed), sum(ends.values())
    finally:
        await consumer.stop()


def ended(n: int) -> Callable[[list[Any]], bool]:
    return lambda events: sum(e.type in ("sync_run_completed", "sync_run_failed") for e in events) >= n


async def test_a_finished_run_commits_its_request(kafka: tuple[str, str]) -> None:
    snapshots = topics.named(topics.SNAPSHOTS, kafka[1])
    async with running(kafka, Script(devices=["a", "b"])):
        await send(kafka, codec.encode(request())[1])
        events = await read_until(kafka, snapshots, ended(1))
    assert [e.type for e in events] == [
        "sync_run_started",
        "device_observed",
        "device_observed",
        "sync_run_completed",
    ]
    committed, end = await committed_and_end(kafka)
    assert committed == end == 1  # the request is committed: a restart would not run it again


async def test_a_stop_mid_pull_leaves_the_request_uncommitted_and_the_next_instance_reruns_it(
    kafka: tuple[str, str],
) -> None:
    """R-M13: no SyncRunFailed on a graceful stop; the re-run is a new attempt of the same run."""
    snapshots = topics.named(topics.SNAPSHOTS, kafka[1])
    req = request()
    blocked = Script(devices=["a", "b"], block=asyncio.Event())
    async with running(kafka, blocked):
        await send(kafka, codec.encode(req)[1])
        await asyncio.wait_for(blocked.entered.wait(), 30)
    committed, end = await committed_and_end(kafka)
    assert (committed, end) == (0, 1)
    async with running(kafka, Script(devices=["a", "b"])):
        events = await read_until(kafka, snapshots, ended(1))
    starts = [e for e in events if e.type == "sync_run_started"]
    assert len(starts) == 2 and starts[0].attempt_id != starts[1].attempt_id
    assert [e.type for e in events if e.attempt_id == starts[0].attempt_id] == [
        "sync_run_started",
        "device_observed",
        "device_observed",
    ]  # the interrupted attempt: no end, no failure
    assert events[-1].type == "sync_run_completed" and events[-1].attempt_id == starts[1].attempt_id
    assert {e.sync_run_id for e in events} == {req.sync_run_id}
    assert await committed_and_end(kafka) == (1, 1)
