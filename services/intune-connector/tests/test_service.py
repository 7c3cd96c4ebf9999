"""The connector end to end through the real broker: sync request in, snapshot events out (R-E1)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from connector_kit import configure_logging
from connector_kit.subscriber import SyncRequestSubscriber
from devstack.kafka_io import publish, read_topic
from intune_connector.service import IntuneConnector, build_subscriber
from intune_connector.settings import Integration, Settings
from ledger_contracts import (
    DeviceObserved,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    codec,
    topics,
)
from mdm_sim.graph import GraphSimConfig, RunningGraphSim

pytestmark = pytest.mark.integration

SAMPLES = sorted((Path(__file__).parent / "samples").glob("*.json"))
N_DEVICES = 1200 + 4  # generated + the four sample devices


@pytest.fixture
def sim_config() -> GraphSimConfig:
    return GraphSimConfig(devices=1200, seed=3, extra_device_files=SAMPLES)


@pytest.fixture
def settings(
    kafka: tuple[str, str], graph_sim: RunningGraphSim, tmp_path: Path, fast_settings: Callable[..., Settings]
) -> Settings:
    bootstrap, prefix = kafka
    integrations = tmp_path / "integrations.json"
    integrations.write_text(json.dumps({"int-intune-1": graph_sim.integration()}))
    return fast_settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        consumer_group=f"{prefix}intune-connector",
        integrations_file=integrations,
    )


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[SyncRequestSubscriber]:
    app = build_subscriber(settings)
    task = asyncio.create_task(app.run())
    await asyncio.wait_for(app.ready.wait(), 30)
    yield app
    await app.stop()
    await asyncio.wait_for(task, 30)


@contextlib.asynccontextmanager
async def publishing(settings: Settings) -> AsyncIterator[IntuneConnector]:
    """The connector with a connected producer and no consumer: runs are started by the test."""
    sub = build_subscriber(settings)
    async with sub.connected():
        assert isinstance(sub.connector, IntuneConnector)
        yield sub.connector


def sync_request(integration_id: str = "int-intune-1", kind: str = "intune", **kw: Any) -> SyncRequested:
    link = MasterLinkSettings(master_link_id="ml-1", integration_id=integration_id, mdm_kind=kind)  # type: ignore
    return SyncRequested(tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=link, **kw)


def topic(settings: Settings, name: str) -> str:
    return topics.named(name, settings.topic_prefix)


async def snapshots(settings: Settings, runs: int = 1) -> list[tuple[int, Any]]:
    """(partition, event) of the snapshots topic, read until `runs` runs have ended (an end-of-run
    marker: completed or failed), never until a silence."""
    bootstrap, name = settings.kafka_bootstrap_servers, topic(settings, topics.SNAPSHOTS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        consumer.assign([TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()])
        await consumer.seek_to_beginning()
        out: list[tuple[int, Any]] = []
        async with asyncio.timeout(60):
            while sum(isinstance(e, SyncRunCompleted | SyncRunFailed) for _, e in out) < runs:
                batch = await consumer.getmany(timeout_ms=500)
                out += [
                    (r.partition, codec.decode(codec.snapshot_adapter, r.value))
                    for records in batch.values()
                    for r in records
                ]
        return out
    finally:
        await consumer.stop()


async def test_sync_request_yields_started_devices_completed_in_order(
    running: SyncRequestSubscriber, settings: Settings, graph_sim: RunningGraphSim
) -> None:
    request = sync_request(dry_run=True)
    await publish(settings.kafka_bootstrap_servers, topic(settings, topics.SYNC_REQUESTS), [request])
    got = await snapshots(settings)
    assert len({p for p, _ in got}) == 1  # one tenant, one partition: order is kept
    events = [e for _, e in got]
    assert isinstance(events[0], SyncRunStarted) and events[0].dry_run is True
    assert events[0].master_link == request.master_link
    observed = events[1:-1]
    assert all(isinstance(e, DeviceObserved) and e.sync_run_id == request.sync_run_id for e in observed)
    ids = [e.device.mdm_device_id for e in observed]
    assert sorted(ids) == sorted(d["id"] for d in graph_sim.sim.store.all())  # type: ignore[union-attr]
    done = events[-1]
    assert isinstance(done, SyncRunCompleted)
    assert (done.devices_observed, done.reported_total) == (N_DEVICES, N_DEVICES)
    cloud_pc = next(
        e.device for e in observed if e.device.mdm_device_id == "9b5ca08f-2311-4164-b725-2d29609b35f2"
    )
    assert cloud_pc.os == "Windows (10.0.19044.3693)" and cloud_pc.mdm.disk_capacity_gb == 136.84


async def test_failing_pull_publishes_failed_and_never_completed(
    running: SyncRequestSubscriber, settings: Settings, graph_sim: RunningGraphSim
) -> None:
    graph_sim.control("POST", "/faults", {"status": 503, "page": 2, "times": -1})
    request = sync_request()
    await publish(settings.kafka_bootstrap_servers, topic(settings, topics.SYNC_REQUESTS), [request])
    events = [e for _, e in await snapshots(settings)]
    assert isinstance(events[0], SyncRunStarted)
    assert sum(isinstance(e, DeviceObserved) for e in events) == 1000  # page 1 was streamed
    assert not [e for e in events if isinstance(e, SyncRunCompleted)]
    failed = events[-1]
    assert isinstance(failed, SyncRunFailed) and failed.devices_observed == 1000
    assert "503" in failed.error and failed.sync_run_id == request.sync_run_id


async def test_poison_goes_to_the_dlq_other_kinds_are_ignored_unknown_integration_fails(
    running: SyncRequestSubscriber, settings: Settings
) -> None:
    requests_topic = topic(settings, topics.SYNC_REQUESTS)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(requests_topic, b'{"type": "sync_requested", "oops": 1}', key=b"acme")
    finally:
        await producer.stop()
    jamf, unknown = sync_request(kind="jamf_pro"), sync_request(integration_id="int-nope")
    await publish(settings.kafka_bootstrap_servers, requests_topic, [jamf, unknown])

    dead = await read_topic(settings.kafka_bootstrap_servers, topics.dlq(requests_topic), until=1, timeout=60)
    assert dead[0].value == b'{"type": "sync_requested", "oops": 1}' and dead[0].key == b"acme"
    headers = dict(dead[0].headers)
    assert headers["x-original-topic"] == requests_topic.encode()
    assert headers["x-consumer"] == b"intune-connector" and b"oops" in headers["x-error"]

    events = [e for _, e in await snapshots(settings)]
    assert len(events) == 1  # nothing for the Jamf request (sent before the unknown one: same partition)
    assert isinstance(events[0], SyncRunFailed) and events[0].sync_run_id == unknown.sync_run_id
    assert "unknown Intune integration 'int-nope'" in events[0].error


async def test_a_malformed_field_keeps_the_device_with_a_warning(
    settings: Settings, graph_sim: RunningGraphSim
) -> None:
    """R-M14 through the broker: the device is published with the field empty and a warning."""
    graph_sim.control("POST", "/devices", {"id": "bad-1", "deviceName": "BAD", "serialNumber": 12345})
    integration = Integration(integration_id="int-intune-1", **graph_sim.integration())
    async with publishing(settings) as app:
        result = await app.run(integration, sync_request())
    assert (result.status, result.with_warnings, result.skipped) == ("completed", 1, 0)
    assert result.devices_observed == N_DEVICES + 1
    events = [e for _, e in await snapshots(settings)]
    (bad,) = [e for e in events if isinstance(e, DeviceObserved) and e.device.mdm_device_id == "bad-1"]
    assert bad.device.serial_number is None and bad.device.device_name == "BAD"
    assert [(w.field, w.mdm_device_id) for w in bad.warnings] == [("serialNumber", "bad-1")]
    done = events[-1]
    assert isinstance(done, SyncRunCompleted)
    assert (done.devices_observed, done.reported_total, done.devices_with_warnings) == (
        N_DEVICES + 1,
        N_DEVICES + 1,
        1,
    )


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("DEBUG", buffer)
    yield buffer
    structlog.reset_defaults()
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_logs_and_events_never_carry_the_secret_or_a_token(
    settings: Settings, graph_sim: RunningGraphSim, json_logs: io.StringIO
) -> None:
    integration = Integration(integration_id="int-intune-1", **graph_sim.integration())
    wrong = integration.model_copy(update={"client_secret": SecretStr("Wr0ng~secret~value~42")})
    async with publishing(settings) as app:
        assert (await app.run(integration, sync_request())).status == "completed"
        graph_sim.control("POST", "/tokens/expire")  # the next pull meets a 401 and refreshes
        assert (await app.run(integration, sync_request())).status == "completed"
        failed = await app.run(wrong, sync_request())  # AADSTS7000215
    assert failed.status == "failed" and "AADSTS7000215" in (failed.error or "")

    logs = json_logs.getvalue()
    events = {json.loads(line)["event"] for line in logs.splitlines()}
    # The paths that could leak did run (so this test can fail):
    assert {"graph.unauthorized_refreshing_token", "graph.token_refreshed", "intune.pull_failed"} <= events
    published = json.dumps([e.model_dump(mode="json") for _, e in await snapshots(settings, runs=3)])
    tokens = graph_sim.sim.tokens.issued()  # type: ignore[union-attr]
    assert len(tokens) == 2
    secrets = [integration.client_secret.get_secret_value(), "Wr0ng~secret~value~42"]
    # Fragments too: a truncated token or secret is still a leak. Any JWT starts with "eyJ".
    needles = {"eyJ0eXAi", *(f for s in secrets for f in (s, s[:10], s[-10:]))}
    needles |= {f for t in tokens for part in t.split(".")[1:] for f in (part[:12], part[-12:])}
    for text in (logs, published):
        assert not [n for n in needles if n in text]
