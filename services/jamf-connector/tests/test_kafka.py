"""Through the real broker: sync requests in, snapshot events out, poison to the DLQ, no secret in logs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from connector_kit import configure_logging
from connector_kit.subscriber import SyncRequestSubscriber
from jamf_connector.service import build_app, build_subscriber
from jamf_connector.settings import Integration, Settings
from ledger_contracts import MasterLinkSettings, SyncRequested, codec, topics
from mdm_sim.jamf import Fault, JamfSim, generate_computers, generate_mobiles

pytestmark = pytest.mark.integration


def sync_request(
    integration_id: str = "jamf-1", kind: str = "jamf_pro", tenant: str = "tenant-k"
) -> SyncRequested:
    return SyncRequested(
        tenant_id=tenant,
        sync_run_id=uuid.uuid4(),
        master_link=MasterLinkSettings(master_link_id="ml", integration_id=integration_id, mdm_kind=kind),  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def running(
    kafka: tuple[str, str], integrations: list[Integration]
) -> AsyncIterator[SyncRequestSubscriber]:
    bootstrap, prefix = kafka
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        kafka_session_timeout_ms=6000,
        consumer_group=f"{prefix}jamf-connector",
        page_size=500,
        max_attempts=2,
        retry_base_delay_s=0.001,
    )
    app = build_subscriber(
        settings, build_app(settings, integrations={i.integration_id: i for i in integrations})
    )
    task = asyncio.create_task(app.run())
    try:
        await asyncio.wait_for(app.ready.wait(), 30)
        yield app
    finally:
        await app.stop()
        await asyncio.wait_for(task, 30)


async def send(kafka: tuple[str, str], *values: bytes, key: bytes = b"tenant-k") -> None:
    bootstrap, prefix = kafka
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topics.named(topics.SYNC_REQUESTS, prefix), value=value, key=key)
    finally:
        await producer.stop()


async def read_until(
    kafka: tuple[str, str], topic: str, done: Callable[[list[Any]], bool], timeout: float = 60
) -> list[Any]:
    """Every record of `topic` (all partitions, from the start) until `done(records)`."""
    bootstrap, _ = kafka
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata, so partitions_for_topic knows the topic
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        async with asyncio.timeout(timeout):
            while not done(records):
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for recs in batch.values() for r in recs]
        return records
    finally:
        await consumer.stop()


def snapshots(records: list[Any]) -> list[Any]:
    return [codec.decode(codec.snapshot_adapter, r.value) for r in records]


def finished_runs(records: list[Any]) -> int:
    return sum(1 for e in snapshots(records) if e.type in ("sync_run_completed", "sync_run_failed"))


async def test_sync_request_to_started_devices_completed_in_order(
    kafka: tuple[str, str], serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = JamfSim(generate_computers(1200, seed=8), generate_mobiles(300, seed=8))
    integration = make_oauth(serve_jamf(sim))
    other_kind = sync_request(kind="intune")  # the Intune connector's request: ignored here
    request = sync_request()
    async with running(kafka, [integration]):
        await send(kafka, codec.encode(other_kind)[1], codec.encode(request)[1])
        records = await read_until(
            kafka, topics.named(topics.SNAPSHOTS, kafka[1]), lambda r: finished_runs(r) >= 1
        )

    events = snapshots(records)
    assert {r.key for r in records} == {b"tenant-k"}  # keyed by tenant id ...
    assert len({r.partition for r in records}) == 1  # ... so one partition keeps the run in order
    assert {e.sync_run_id for e in events} == {request.sync_run_id}  # nothing for the intune request
    assert [e.type for e in events] == ["sync_run_started"] + ["device_observed"] * 1500 + [
        "sync_run_completed"
    ]
    assert len({e.device.mdm_device_id for e in events[1:-1]}) == 1500
    assert (events[-1].devices_observed, events[-1].reported_total) == (1500, 1500)


async def test_a_failing_jamf_ends_the_run_as_failed(
    kafka: tuple[str, str], serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = JamfSim(generate_computers(50, seed=8), [])
    sim.faults.append(Fault(status=503, count=1000, path="computers-inventory"))
    request = sync_request()
    async with running(kafka, [make_oauth(serve_jamf(sim))]):
        await send(kafka, codec.encode(request)[1])
        records = await read_until(
            kafka, topics.named(topics.SNAPSHOTS, kafka[1]), lambda r: finished_runs(r) >= 1
        )
    events = snapshots(records)
    assert [e.type for e in events] == ["sync_run_started", "sync_run_failed"]
    assert "503" in events[-1].error


async def test_poison_goes_to_the_dlq_and_the_next_request_still_runs(
    kafka: tuple[str, str], serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = JamfSim(generate_computers(5, seed=8), generate_mobiles(5, seed=8))
    request = sync_request()
    requests_topic = topics.named(topics.SYNC_REQUESTS, kafka[1])
    async with running(kafka, [make_oauth(serve_jamf(sim))]):
        await send(kafka, b"{not json", b'{"type": "sync_requested"}', codec.encode(request)[1])
        dead = await read_until(kafka, topics.dlq(requests_topic), lambda r: len(r) >= 2)
        records = await read_until(
            kafka, topics.named(topics.SNAPSHOTS, kafka[1]), lambda r: finished_runs(r) >= 1
        )
    assert [d.value for d in dead] == [b"{not json", b'{"type": "sync_requested"}']
    headers = dict(dead[0].headers)
    assert headers["x-original-topic"] == requests_topic.encode()
    assert headers["x-consumer"] == b"jamf-connector" and headers["x-error"]
    assert snapshots(records)[-1].type == "sync_run_completed"


async def test_logs_never_hold_the_secret_or_a_token(
    kafka: tuple[str, str], serve_jamf: Any, make_oauth: Callable, make_basic: Callable
) -> None:
    sim = JamfSim(generate_computers(300, seed=8), generate_mobiles(50, seed=8))
    sim.config.client_secret = "oauth-secret-Zq81"
    sim.config.password = "basic-password-Kx27"
    sim.faults.append(Fault(status=429, count=1, retry_after=0.01))
    srv = serve_jamf(sim)
    oauth, basic = make_oauth(srv, "jamf-oauth"), make_basic(srv, "jamf-basic")
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    configure_logging("DEBUG", stream)
    try:
        async with running(kafka, [oauth, basic]):
            await send(
                kafka,
                codec.encode(sync_request("jamf-oauth"))[1],
                codec.encode(sync_request("jamf-basic"))[1],
                codec.encode(sync_request("jamf-nowhere"))[1],
            )
            await read_until(kafka, topics.named(topics.SNAPSHOTS, kafka[1]), lambda r: finished_runs(r) >= 3)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "jamf.pull_completed" in text and "jamf.token_minted" in text  # the logs were captured
    assert len(sim.issued) >= 2
    for secret in ("oauth-secret-Zq81", "basic-password-Kx27", *sim.issued):
        assert secret not in text


async def test_sigterm_mid_pull_leaves_the_request_for_the_next_instance(
    kafka: tuple[str, str], serve_jamf: Any, make_oauth: Callable, tmp_path: Any
) -> None:
    """R-M13 with the real process and a real signal: `python -m jamf_connector` gets SIGTERM in
    the middle of a pull, exits promptly without publishing a failure, and leaves the request
    uncommitted; the next instance runs it again under a new attempt and completes it."""
    import json
    import os
    import signal
    import sys

    bootstrap, prefix = kafka
    sim = JamfSim(generate_computers(600, seed=4), [])
    sim.config.page_delay_s = 0.5  # a slow Jamf: the pull is still running when the signal comes
    integration = make_oauth(serve_jamf(sim))
    entry = {"base_url": integration.base_url, "ca_bundle": str(integration.ca_bundle)}
    entry |= {
        "client_id": integration.client_id,
        "client_secret": integration.client_secret.get_secret_value(),
    }
    path = tmp_path / "jamf-integrations.json"
    path.write_text(json.dumps({integration.integration_id: entry}))
    env = {
        **os.environ,
        "JAMF_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "JAMF_CONNECTOR_TOPIC_PREFIX": prefix,
        "JAMF_CONNECTOR_CONSUMER_GROUP": f"{prefix}jamf-connector",
        "JAMF_CONNECTOR_INTEGRATIONS_FILE": str(path),
        "JAMF_CONNECTOR_PAGE_SIZE": "50",
        "JAMF_CONNECTOR_MAX_CONCURRENCY": "1",
        "JAMF_CONNECTOR_KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    request = sync_request()
    snapshots_topic = topics.named(topics.SNAPSHOTS, prefix)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jamf_connector", env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await send(kafka, codec.encode(request)[1])
        await read_until(
            kafka, snapshots_topic, lambda r: any(e.type == "device_observed" for e in snapshots(r))
        )
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0  # stopped, and cleanly
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    first = snapshots(await read_until(kafka, snapshots_topic, lambda r: len(r) >= 1))
    assert not [e for e in first if e.type in ("sync_run_failed", "sync_run_completed")]

    sim.config.page_delay_s = 0.0
    async with running(kafka, [integration]):  # the next instance, same consumer group
        events = snapshots(await read_until(kafka, snapshots_topic, lambda r: finished_runs(r) >= 1))
    starts = [e for e in events if e.type == "sync_run_started"]
    assert len(starts) == 2 and starts[0].attempt_id != starts[1].attempt_id
    assert {e.sync_run_id for e in events} == {request.sync_run_id}
    done = events[-1]
    assert done.type == "sync_run_completed" and done.attempt_id == starts[1].attempt_id
    assert done.devices_observed == 600
