"""The connector as a service: sync requests in, snapshots out (SPEC §7 R-E1, §9).

`build_app(settings)` is the composition root. `JamfConnector.run()` consumes
`mdm.sync-requests.v1` (group `jamf-connector`, commit after each handled record), pulls the Jamf
Pro integration of every `SyncRequested` whose master link is `jamf_pro`, and publishes to
`mdm.snapshots.v1`: `SyncRunStarted`, one `DeviceObserved` per device as pages arrive, then
`SyncRunCompleted` — or `SyncRunFailed`, never a partial completed run. Records that do not decode
go to the dead-letter topic with the error. `pull()` can be called directly (demo, bench).

A pull that fails is *handled* (the failure is published), so its request is committed. If even
the failure cannot be published (the broker is gone), the exception ends `run()` uncommitted and
the request is redelivered after a restart: at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ledger_contracts import (
    DeviceObserved,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    codec,
    topics,
)

from . import retry
from .client import JamfClient, open_client
from .publisher import KafkaPublisher, Publisher, new_producer
from .settings import Integration, OAuthIntegration, Settings, load_integrations
from .translate import MalformedDevice, translate

log = structlog.get_logger(__name__)
CONSUMER_NAME = "jamf-connector"


@dataclass(frozen=True)
class PullOutcome:
    status: str  # "completed" | "failed"
    devices_observed: int
    malformed: int
    reported_total: int | None
    seconds: float
    error: str | None = None


class JamfConnector:
    def __init__(
        self,
        settings: Settings,
        integrations: dict[str, Integration],
        *,
        producer: AIOKafkaProducer | None = None,
        publisher: Publisher | None = None,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.integrations = integrations
        self.snapshots_topic = topics.named(topics.SNAPSHOTS, settings.topic_prefix)
        self.requests_topic = topics.named(topics.SYNC_REQUESTS, settings.topic_prefix)
        self._producer = producer  # a producer passed in is started and stopped by its owner
        self._owns_producer = producer is None
        self._publisher = publisher
        self._consumer_factory = consumer_factory or self._new_consumer
        self._client_options = client_options or {}
        self._computer_versions: dict[str, str] = {}  # integration id -> API version that answered

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("start() the connector first")
        return self._producer

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            self._publisher = KafkaPublisher(self.producer, self.snapshots_topic)
        return self._publisher

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._producer is None:  # created here, not in build_app: aiokafka wants a running loop
            self._producer = new_producer(self.settings.kafka_bootstrap_servers)
            await self._producer.start()

    async def stop(self) -> None:
        if self._owns_producer and self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> JamfConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- consuming sync requests ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        consumer = self._consumer_factory()
        await consumer.start()
        log.info("jamf.consuming", topic=self.requests_topic, group=self.settings.consumer_group)
        try:
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=10)
                for tp, records in batch.items():
                    for record in records:
                        await self.handle_record(record)
                        await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
        finally:
            await consumer.stop()

    async def handle_record(self, record: ConsumerRecord[bytes, bytes]) -> PullOutcome | None:
        try:
            request = codec.decode(codec.sync_request_adapter, record.value)
        except codec.PoisonMessage as exc:
            await self._dead_letter(record, str(exc))
            return None
        if request.master_link.mdm_kind != "jamf_pro":
            return None  # another connector's request: same topic, its own consumer group
        return await self.handle(request)

    async def handle(self, request: SyncRequested) -> PullOutcome:
        integration_id = request.master_link.integration_id
        integration = self.integrations.get(integration_id)
        if integration is None:
            return await self._fail_unstarted(
                request, f"integration {integration_id!r} is not configured here"
            )
        return await self.pull(integration, request)

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: str) -> None:
        log.error("jamf.poison_sync_request", topic=record.topic, offset=record.offset, error=error)
        headers = codec.dead_letter_headers(
            error, record.topic, record.partition, record.offset, CONSUMER_NAME
        )
        await self.producer.send_and_wait(
            topics.dlq(record.topic), value=record.value, key=record.key, headers=headers
        )

    # --- one pull ------------------------------------------------------------------------------

    async def pull(self, integration: Integration, request: SyncRequested) -> PullOutcome:
        """Pull every computer and mobile device of `integration`, publishing the run's events."""
        started = time.perf_counter()
        bound = log.bind(sync_run_id=str(request.sync_run_id), integration_id=integration.integration_id)
        await self.publisher.publish(
            SyncRunStarted(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                master_link=request.master_link,
                dry_run=request.dry_run,
            )
        )
        observed = malformed = 0
        reported: int | None = None
        try:
            async with self._client(integration) as client:
                async for page in client.inventory():
                    for raw in page.records:
                        try:
                            device = translate(page.kind, raw)
                        except MalformedDevice as exc:
                            malformed += 1
                            bound.warning("jamf.malformed_device", error=str(exc))
                            continue
                        await self.publisher.publish(
                            DeviceObserved(
                                tenant_id=request.tenant_id,
                                sync_run_id=request.sync_run_id,
                                integration_id=integration.integration_id,
                                device=device,
                            )
                        )
                        observed += 1
                reported = client.reported_total
                if client.computer_version:
                    self._computer_versions[integration.integration_id] = client.computer_version
            await self.publisher.flush()  # every device acknowledged before the run is called complete
        except Exception as exc:  # any failure ends the run as failed, never as a partial completed
            error = _redact(f"{type(exc).__name__}: {exc}", integration)
            bound.error("jamf.pull_failed", error=error, devices_observed=observed)
            await self.publisher.publish(
                SyncRunFailed(
                    tenant_id=request.tenant_id,
                    sync_run_id=request.sync_run_id,
                    integration_id=integration.integration_id,
                    devices_observed=observed,
                    error=error,
                )
            )
            await self.publisher.flush()
            return PullOutcome("failed", observed, malformed, reported, time.perf_counter() - started, error)
        await self.publisher.publish(
            SyncRunCompleted(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                integration_id=integration.integration_id,
                devices_observed=observed,
                reported_total=reported,
            )
        )
        await self.publisher.flush()
        seconds = time.perf_counter() - started
        bound.info(
            "jamf.pull_completed",
            devices_observed=observed,
            malformed=malformed,
            reported_total=reported,
            seconds=round(seconds, 3),
        )
        return PullOutcome("completed", observed, malformed, reported, seconds)

    async def _fail_unstarted(self, request: SyncRequested, error: str) -> PullOutcome:
        log.error("jamf.sync_request_rejected", sync_run_id=str(request.sync_run_id), error=error)
        for event in (
            SyncRunStarted(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                master_link=request.master_link,
                dry_run=request.dry_run,
            ),
            SyncRunFailed(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                integration_id=request.master_link.integration_id,
                devices_observed=0,
                error=error,
            ),
        ):
            await self.publisher.publish(event)
        await self.publisher.flush()
        return PullOutcome("failed", 0, 0, None, 0.0, error)

    def _client(self, integration: Integration) -> contextlib.AbstractAsyncContextManager[JamfClient]:
        s = self.settings
        options: dict[str, Any] = {
            "page_size": s.page_size,
            "max_concurrency": s.max_concurrency,
            "policy": retry.RetryPolicy(
                s.max_attempts, s.retry_base_delay_s, s.retry_max_delay_s, s.max_retry_after_s
            ),
            "computer_version": self._computer_versions.get(integration.integration_id),
            **self._client_options,
        }
        return open_client(integration, timeout_s=s.request_timeout_s, **options)

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            self.requests_topic,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.consumer_group,
            enable_auto_commit=False,  # commit only after a request is handled (at-least-once)
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
        )


def _redact(text: str, integration: Integration) -> str:
    """Belt and braces: errors are built without secrets, but never let one through by accident."""
    secret = (
        integration.client_secret if isinstance(integration, OAuthIntegration) else integration.password
    ).get_secret_value()
    return text.replace(secret, "***") if secret else text


def build_app(
    settings: Settings,
    *,
    producer: AIOKafkaProducer | None = None,
    publisher: Publisher | None = None,
    integrations: dict[str, Integration] | None = None,
    consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
    client_options: dict[str, Any] | None = None,
) -> JamfConnector:
    """The composition root. Nothing connects until `start()` (or `async with`)."""
    return JamfConnector(
        settings,
        integrations if integrations is not None else load_integrations(settings.integrations_file),
        producer=producer,
        publisher=publisher,
        consumer_factory=consumer_factory,
        client_options=client_options,
    )
