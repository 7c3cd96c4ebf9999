"""The FastStream subscriber on the in-memory broker (TestKafkaBroker): typed handler, ack after the
run, dead letters for undecodable requests (issue 8 item 1, R-M13)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from connector_kit.subscriber import SyncRequestSubscriber
from ledger_contracts import codec, topics

from .conftest import FakeConnector, FakeSettings, Script, integrations, request

pytestmark = pytest.mark.unit  # TestKafkaBroker: in memory, no socket


def build(script: Script) -> tuple[SyncRequestSubscriber, FakeConnector]:
    settings = FakeSettings(topic_prefix="t.", consumer_group="fake-connector")
    connector = FakeConnector(settings, script, integrations=integrations())
    return SyncRequestSubscriber(connector, settings, client_name="fake-connector"), connector


def collector(sub: SyncRequestSubscriber, topic: str) -> list[Any]:
    seen: list[Any] = []

    @sub.broker.subscriber(topic, group_id="collector")
    async def collect(message: KafkaMessage) -> None:
        seen.append(message.body)

    return seen


async def test_a_request_runs_and_publishes_started_devices_completed_keyed_by_tenant() -> None:
    sub, _ = build(Script(devices=["d1", "d2", "d3"]))
    out = collector(sub, sub.snapshots_topic)
    async with TestKafkaBroker(sub.broker) as br:
        req = request()
        await br.publish(codec.encode(req)[1], sub.requests_topic, key=b"tenant-k")
    events = [codec.decode(codec.snapshot_adapter, b) for b in out]
    assert [e.type for e in events] == ["sync_run_started"] + ["device_observed"] * 3 + ["sync_run_completed"]
    assert {e.sync_run_id for e in events} == {req.sync_run_id}
    assert len({e.attempt_id for e in events}) == 1 and events[0].attempt_id is not None  # R-M13
    assert (events[-1].devices_observed, events[-1].reported_total) == (3, 3)


async def test_the_handler_is_typed_and_other_kinds_are_ignored() -> None:
    sub, connector = build(Script(devices=["d1"]))
    out = collector(sub, sub.snapshots_topic)
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(codec.encode(request(kind="jamf_pro"))[1], sub.requests_topic)
        sub.handler.mock.assert_called_once()  # the typed handler saw it (decoded) ...
    assert out == [] and connector.pulls == 0  # ... and left it to the Jamf connector


@pytest.mark.parametrize(
    ("value", "error_part"),
    [
        (b"{not json", "Invalid JSON"),
        (b'{"type": "sync_requested"}', "sync_run_id"),
        (b'{"type": "delete_everything", "tenant_id": "t"}', "type"),
    ],
)
async def test_undecodable_requests_go_to_the_dlq_with_the_error_and_never_run(
    value: bytes, error_part: str
) -> None:
    sub, connector = build(Script(devices=["d1"]))
    dead: list[tuple[bytes, dict[str, Any]]] = []

    @sub.broker.subscriber(topics.dlq(sub.requests_topic), group_id="dlq-reader")
    async def collect(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(value, sub.requests_topic, key=b"tenant-k")
    ((body, headers),) = dead
    assert body == value and connector.pulls == 0
    assert error_part in headers["x-error"]
    assert headers["x-original-topic"] == sub.requests_topic
    assert headers["x-consumer"] == "fake-connector"


async def test_a_failed_pull_publishes_failed_never_completed_and_the_secret_is_masked() -> None:
    sub, _ = build(Script(devices=["d1"], error=RuntimeError("boom with tok-Secret-99")))
    out = collector(sub, sub.snapshots_topic)
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(codec.encode(request())[1], sub.requests_topic)
    events = [codec.decode(codec.snapshot_adapter, b) for b in out]
    assert [e.type for e in events] == ["sync_run_started", "device_observed", "sync_run_failed"]
    assert events[-1].error == "RuntimeError: boom with ***"
    assert events[-1].devices_observed == 1


async def test_an_unknown_integration_is_refused_with_one_failed_event() -> None:
    sub, _ = build(Script())
    out = collector(sub, sub.snapshots_topic)
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(codec.encode(request("nowhere"))[1], sub.requests_topic)
    (event,) = [codec.decode(codec.snapshot_adapter, b) for b in out]
    assert event.type == "sync_run_failed" and "unknown Fake integration 'nowhere'" in event.error


async def test_each_handling_of_the_same_request_is_a_new_attempt() -> None:
    """R-M13: a redelivered request (same sync_run_id) gets a fresh attempt id."""
    sub, _ = build(Script(devices=["d1"]))
    out = collector(sub, sub.snapshots_topic)
    req = request()
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(codec.encode(req)[1], sub.requests_topic)
        await br.publish(codec.encode(req)[1], sub.requests_topic)
    events = [codec.decode(codec.snapshot_adapter, b) for b in out]
    attempts = [e.attempt_id for e in events if e.type == "sync_run_started"]
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    for attempt in attempts:
        assert [e.type for e in events if e.attempt_id == attempt] == [
            "sync_run_started",
            "device_observed",
            "sync_run_completed",
        ]


async def test_stop_during_a_pull_publishes_no_end_of_run() -> None:
    """A graceful stop cancels the run in flight: no SyncRunFailed, nothing after the devices."""
    script = Script(devices=["d1"], block=asyncio.Event())
    sub, _ = build(script)
    out = collector(sub, sub.snapshots_topic)
    async with TestKafkaBroker(sub.broker) as br:
        publishing = asyncio.create_task(br.publish(codec.encode(request())[1], sub.requests_topic))
        await asyncio.wait_for(script.entered.wait(), 10)
        await sub.stop()
        await asyncio.wait_for(publishing, 10)
    events = [codec.decode(codec.snapshot_adapter, b) for b in out]
    assert [e.type for e in events] == ["sync_run_started", "device_observed"]


async def test_unusable_sealed_credentials_refuse_the_run_with_one_failed_event_and_no_secret() -> None:
    """Every connector: the key ring cannot open the request's credentials -> SyncRunFailed, acked."""
    import json

    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    from ledger_contracts import EncryptedCredentials

    sub, connector = build(Script(devices=["d1"]))
    connector.settings.secrets_key = SecretStr(Fernet.generate_key().decode())
    out = collector(sub, sub.snapshots_topic)
    sealed_key = Fernet.generate_key()
    sealed = EncryptedCredentials(
        key_id="k9", ciphertext=Fernet(sealed_key).encrypt(json.dumps({"token": "tok-9"}).encode()).decode()
    )
    req = request().model_copy(update={"credentials": sealed})
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(codec.encode(req)[1], sub.requests_topic)
    (event,) = [codec.decode(codec.snapshot_adapter, b) for b in out]
    assert event.type == "sync_run_failed" and connector.pulls == 0
    assert "cannot decrypt the credentials of integration 'fake-1' (sealed under key 'k9')" in event.error
    assert "FAKE_SECRETS_KEY" in event.error
    for secret in ("tok-9", sealed.ciphertext, sealed_key.decode()):
        assert secret not in event.error


async def test_a_request_the_connector_crashes_on_goes_to_the_dlq_not_silently_past() -> None:
    """A bug outside the run (here: in handle itself) must not let the next commit skip the request."""
    sub, connector = build(Script(devices=["d1"]))

    async def crash(_: Any) -> None:
        raise TypeError("unexpected None")

    connector.handle = crash  # type: ignore[method-assign]  # a stand-in bug
    dead: list[tuple[bytes, dict[str, Any]]] = []

    @sub.broker.subscriber(topics.dlq(sub.requests_topic), group_id="dlq-reader")
    async def collect(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    value = codec.encode(request())[1]
    async with TestKafkaBroker(sub.broker) as br:
        await br.publish(value, sub.requests_topic, key=b"tenant-k")
    ((body, headers),) = dead
    assert body == value
    assert headers["x-error"] == "the connector crashed on this request: TypeError: unexpected None"
