"""The connector's composition root and its Kafka shell (R-E1, R-J2, SPEC §9).

Consumes `mdm.sync-requests.v1` (group `jamf-connector`, commit after handling: at-least-once),
pulls every computer and mobile device of the integration and publishes to `mdm.snapshots.v1`,
keyed by tenant: `SyncRunStarted`, one `DeviceObserved` per device as pages arrive, then
`SyncRunCompleted` — or `SyncRunFailed`, never a completed run after a partial pull. Undecodable
requests go to the DLQ. `pull()` can be called directly (demo, bench). The integration comes from
the request's encrypted credentials (credentials.py) when it has them, else from the integrations file.

A failed pull is *handled* (the failure is published), so its request is committed. A Kafka error
is not: nothing can be published then, so it propagates, `run()` ends uncommitted and the request
is redelivered after a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from ledger_contracts import (
    DeviceObserved,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    codec,
    topics,
)

from .client import JamfClient, open_client
from .credentials import CredentialsError, open_credentials
from .publisher import KafkaPublisher, Publisher, new_producer
from .retry import RetryPolicy
from .settings import Integration, OAuthIntegration, Settings, load_integrations
from .translate import MalformedDevice, translate

CONSUMER_NAME = "jamf-connector"

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PullResult:
    status: str  # "completed" | "failed"
    devices_observed: int
    reported_total: int | None = None  # computers' + mobiles' totalCount
    malformed: int = 0
    duplicates: int = 0  # records seen twice while the inventory moved under the pull
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None


class JamfConnector:
    def __init__(
        self,
        settings: Settings,
        *,
        integrations: dict[str, Integration] | None = None,
        producer: AIOKafkaProducer | None = None,
        publisher: Publisher | None = None,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self._integrations = (
            integrations if integrations is not None else load_integrations(settings.integrations_file)
        )
        self.requests_topic = topics.named(topics.SYNC_REQUESTS, settings.topic_prefix)
        self.snapshots_topic = topics.named(topics.SNAPSHOTS, settings.topic_prefix)
        self._producer = producer  # a producer passed in is started and stopped by its owner
        self._owns_producer = producer is None
        self._publisher = publisher
        self._consumer_factory = consumer_factory or self._new_consumer
        self._client_options = client_options or {}
        self._computer_versions: dict[str, str] = {}  # integration id -> API version that answered
        self._stopping = asyncio.Event()
        self._current: asyncio.Task[Any] | None = None
        self.ready = asyncio.Event()  # set once the consumer has started

    @property
    def integrations(self) -> dict[str, Integration]:
        return dict(self._integrations)

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            if self._producer is None:
                raise RuntimeError("start() the connector first")
            self._publisher = KafkaPublisher(self._producer, self.snapshots_topic)
        return self._publisher

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the producer (idempotent). `pull()` works after this without `run()`."""
        if self._producer is None and self._publisher is None:
            self._producer = new_producer(self.settings.kafka_bootstrap_servers)  # needs a running loop
            await self._producer.start()

    async def run(self) -> None:
        """Consume sync requests until `stop()`."""
        await self.start()
        consumer = self._consumer_factory()
        await consumer.start()
        self.ready.set()
        log.info("jamf.consuming", topic=self.requests_topic, group=self.settings.consumer_group)
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for record in records:
                        self._current = asyncio.create_task(self.handle_record(record))
                        await asyncio.wait({self._current})
                        if self._current.cancelled():  # stop() during a pull: not committed, redelivered
                            return
                        self._current.result()  # a Kafka failure propagates: the supervisor restarts us
                        await consumer.commit({tp: record.offset + 1})
        finally:
            self._current = None
            await consumer.stop()
            await self.close()

    async def stop(self) -> None:
        self._stopping.set()
        if self._current is not None and not self._current.done():
            self._current.cancel()

    async def close(self) -> None:
        if self._owns_producer and self._producer is not None:
            await self._producer.stop()
            self._producer = None
            self._publisher = None

    async def __aenter__(self) -> JamfConnector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- handling ----------------------------------------------------------------------------------

    async def handle_record(self, record: Any) -> PullResult | None:
        try:
            request = codec.decode(codec.sync_request_adapter, record.value)
        except codec.PoisonMessage as exc:
            headers = codec.dead_letter_headers(
                str(exc), record.topic, record.partition, record.offset, CONSUMER_NAME
            )
            assert self._producer is not None  # run() started it
            await self._producer.send_and_wait(
                topics.dlq(record.topic), record.value, key=record.key, headers=headers
            )
            log.error(
                "jamf.poison_request",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return None
        return await self.handle(request)

    async def handle(self, request: SyncRequested) -> PullResult | None:
        link = request.master_link
        if link.mdm_kind != "jamf_pro":
            return None  # another connector's request: same topic, its own consumer group
        if request.credentials is not None:
            try:
                integration = open_credentials(
                    request.credentials, link.integration_id, self.settings.secrets_key
                )
            except CredentialsError as exc:
                return await self._fail(request, "jamf.credentials_unusable", str(exc))
        else:
            found = self.integration(link.integration_id)
            if found is None:
                error = f"unknown Jamf Pro integration '{link.integration_id}' (not in the integrations file)"
                return await self._fail(request, "jamf.unknown_integration", error)
            integration = found
        return await self.pull(integration, request)

    async def _fail(self, request: SyncRequested, event: str, error: str) -> PullResult:
        """A run that cannot start: `SyncRunFailed` with the reason (which never holds a secret)."""
        link = request.master_link
        log.error(
            event, integration_id=link.integration_id, sync_run_id=str(request.sync_run_id), error=error
        )
        await self._publish_now(
            SyncRunFailed(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                integration_id=link.integration_id,
                devices_observed=0,
                error=error,
            )
        )
        return PullResult("failed", 0, error=error)

    def integration(self, integration_id: str) -> Integration | None:
        if integration_id not in self._integrations and self.settings.integrations_file is not None:
            # Integrations are added while we run (R-S3): look at the file again before giving up.
            self._integrations = load_integrations(self.settings.integrations_file)
        return self._integrations.get(integration_id)

    # --- one pull ----------------------------------------------------------------------------------

    async def pull(self, integration: Integration, request: SyncRequested) -> PullResult:
        """Pull every computer and mobile device of `integration`, published as one sync run."""
        await self.start()
        ids = {
            "tenant_id": request.tenant_id,
            "sync_run_id": str(request.sync_run_id),
            "integration_id": integration.integration_id,
        }
        with structlog.contextvars.bound_contextvars(**ids):
            return await self._pull(integration, request)

    async def _pull(self, integration: Integration, request: SyncRequested) -> PullResult:
        started = time.monotonic()
        common = {"tenant_id": request.tenant_id, "sync_run_id": request.sync_run_id}
        iid = integration.integration_id
        await self._publish_now(
            SyncRunStarted(**common, master_link=request.master_link, dry_run=request.dry_run)
        )
        log.info("jamf.pull_started")
        observed = malformed = 0
        client: JamfClient | None = None
        try:
            async with self._client(integration) as client:
                async for page in client.inventory():
                    for raw in page.records:
                        try:
                            device = translate(page.kind, raw)
                        except MalformedDevice as exc:
                            malformed += 1
                            log.warning("jamf.malformed_device", error=str(exc))
                            continue
                        await self.publisher.publish(
                            DeviceObserved(**common, integration_id=iid, device=device)
                        )
                        observed += 1
                if client.computer_version:
                    self._computer_versions[iid] = client.computer_version
            await self.publisher.flush()  # every device acknowledged before the run is called complete
        except KafkaError:
            raise  # cannot publish anything now; the request stays uncommitted and comes back
        except Exception as exc:  # Jamf, network, auth, or a bug: end the run visibly as failed
            error = _safe_error(exc, integration)
            await self.publisher.flush()  # the failure comes after every device already sent
            await self._publish_now(
                SyncRunFailed(**common, integration_id=iid, devices_observed=observed, error=error)
            )
            log.error("jamf.pull_failed", error=error, devices_observed=observed)
            return PullResult(
                "failed",
                observed,
                malformed=malformed,
                pages=client.pages if client else 0,
                seconds=time.monotonic() - started,
                error=error,
            )
        reported = client.reported_total
        await self._publish_now(
            SyncRunCompleted(**common, integration_id=iid, devices_observed=observed, reported_total=reported)
        )
        result = PullResult(
            "completed",
            observed,
            reported,
            malformed,
            client.duplicates,
            client.pages,
            time.monotonic() - started,
        )
        log.info(
            "jamf.pull_completed",
            devices_observed=observed,
            reported_total=reported,
            malformed=malformed,
            duplicates=result.duplicates,
            pages=result.pages,
            computer_api=client.computer_version,
            seconds=round(result.seconds, 3),
        )
        return result

    async def _publish_now(self, event: Any) -> None:
        await self.publisher.publish(event)
        await self.publisher.flush()

    def _client(self, integration: Integration) -> Any:
        s = self.settings
        options: dict[str, Any] = {
            "page_size": s.page_size,
            "max_concurrency": s.max_concurrency,
            "policy": RetryPolicy(
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
            client_id=CONSUMER_NAME,
            enable_auto_commit=False,  # commit only after a request is handled (at-least-once)
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, self.settings.kafka_session_timeout_ms // 3),
        )


def _safe_error(exc: BaseException, integration: Integration) -> str:
    """Errors are built without secrets; redacting anyway means a future mistake cannot leak one."""
    secret = (
        integration.client_secret if isinstance(integration, OAuthIntegration) else integration.password
    ).get_secret_value()
    text = f"{type(exc).__name__}: {exc}"
    return (text.replace(secret, "***") if secret else text)[:1000]


def build_app(
    settings: Settings,
    *,
    integrations: dict[str, Integration] | None = None,
    producer: AIOKafkaProducer | None = None,
    publisher: Publisher | None = None,
    consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
    client_options: dict[str, Any] | None = None,
) -> JamfConnector:
    """The composition root: tests and the benchmark pass fakes or pre-built parts; nothing starts here."""
    return JamfConnector(
        settings,
        integrations=integrations,
        producer=producer,
        publisher=publisher,
        consumer_factory=consumer_factory,
        client_options=client_options,
    )
