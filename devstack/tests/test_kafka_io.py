"""`read_topic` reads to the high-watermark or an end-of-stream marker, never until a silence."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from devstack.kafka_io import publish, read_topic
from ledger_contracts import SyncRequested, codec, topics
from ledger_contracts.devices import MasterLinkSettings

pytestmark = pytest.mark.integration


def _request(tenant: str) -> SyncRequested:
    link = MasterLinkSettings(master_link_id="ml-1", integration_id="int-1", mdm_kind="intune")  # type: ignore[call-arg]
    return SyncRequested(tenant_id=tenant, sync_run_id=uuid.uuid4(), master_link=link)


async def test_reads_every_partition_up_to_the_end_offsets(kafka: tuple[str, str]) -> None:
    bootstrap, prefix = kafka
    topic = topics.named(topics.SYNC_REQUESTS, prefix)
    sent = [_request(f"tenant-{i}") for i in range(9)]  # keys spread over the 3 partitions
    await publish(bootstrap, topic, list(sent))
    got = await read_topic(bootstrap, topic)
    assert sorted(r.value for r in got) == sorted(codec.encode(e)[1] for e in sent)


async def test_waits_past_the_end_offsets_for_an_end_marker(kafka: tuple[str, str]) -> None:
    bootstrap, prefix = kafka
    topic = topics.named(topics.SYNC_REQUESTS, prefix)
    await publish(bootstrap, topic, [_request("a")])
    marker = _request("the-end")

    async def later() -> None:
        await asyncio.sleep(0.5)  # published after the reader took the end offsets
        await publish(bootstrap, topic, [_request("b"), marker])

    task = asyncio.create_task(later())
    got = await read_topic(bootstrap, topic, stop_when=lambda r: r.key == b"the-end", timeout=30)
    await task
    assert b"the-end" in {r.key for r in got}
    assert len(got) >= 2


async def test_until_waits_for_that_many_records(kafka: tuple[str, str]) -> None:
    bootstrap, prefix = kafka
    topic = topics.named(topics.SYNC_REQUESTS, prefix)
    task = asyncio.create_task(publish(bootstrap, topic, [_request("x"), _request("y")]))
    got = await read_topic(bootstrap, topic, until=2, timeout=30)
    await task
    assert len(got) == 2
