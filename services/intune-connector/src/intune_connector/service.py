"""The connector's composition root and its Kafka shell (R-E1, SPEC §9).

Consumes `mdm.sync-requests.v1` (group `intune-connector`, commit after handling: at-least-once),
runs one `SyncRun` per Intune request (publishing to `mdm.snapshots.v1`, see sync_run.py), ignores
other MDM kinds, answers an unknown integration with `SyncRunFailed`, and sends undecodable
requests to the dead-letter topic with the error in its headers — never dropping them.
The integration comes from the request's encrypted credentials (credentials.py) when it has them,
else from the integrations file.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ledger_contracts import Event, SyncRequested, SyncRunFailed, codec, topics

from .auth import TokenProvider, TokenSource
from .credentials import CredentialsError, open_credentials
from .graph import RetryPolicy
from .settings import Integration, Settings, load_integrations
from .sync_run import PullResult, SyncRun, http_client_for

CONSUMER_NAME = "intune-connector"

log = structlog.get_logger(__name__)


class IntuneConnector:
    def __init__(
        self,
        settings: Settings,
        *,
        integrations: dict[str, Integration] | None = None,
        producer: Any = None,
        consumer: Any = None,
        token_provider_factory: Callable[[Integration], TokenSource] = TokenProvider,
        http_client_factory: Callable[[Integration, Settings], httpx.AsyncClient] = http_client_for,
    ) -> None:
        self.settings = settings
        self._integrations = (
            integrations if integrations is not None else load_integrations(settings.integrations_file)
        )
        self._producer = producer
        self._owns_producer = producer is None
        self._consumer = consumer
        self._token_provider_factory = token_provider_factory
        self._http_client_factory = http_client_factory
        self._token_providers: dict[str, TokenSource] = {}
        self.requests_topic = topics.named(topics.SYNC_REQUESTS, settings.topic_prefix)
        self.snapshots_topic = topics.named(topics.SNAPSHOTS, settings.topic_prefix)
        self.policy = RetryPolicy(
            settings.max_attempts,
            settings.retry_base_delay_s,
            settings.retry_max_delay_s,
            settings.max_retry_after_s,
        )
        self._started = False
        self._stopping = asyncio.Event()
        self._current: asyncio.Task[Any] | None = None
        self.ready = asyncio.Event()  # set once the consumer has started

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the producer (idempotent). `pull()` works after this without `run()`."""
        if self._started:
            return
        if self._producer is None:
            # No idempotence: the embedded broker (Tansu) rejects InitProducerId. Ordering still holds:
            # one key (tenant) -> one partition, and aiokafka keeps one batch in flight per partition.
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                client_id=CONSUMER_NAME,
                acks="all",
                enable_idempotence=False,
                linger_ms=10,
                max_batch_size=1024 * 1024,
            )
            await self._producer.start()
        self._started = True

    async def run(self) -> None:
        """Consume sync requests until `stop()`."""
        await self.start()
        consumer = self._consumer or AIOKafkaConsumer(
            self.requests_topic,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=self.settings.consumer_group,
            client_id=CONSUMER_NAME,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=self.settings.max_poll_interval_ms,
            session_timeout_ms=self.settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, self.settings.kafka_session_timeout_ms // 3),
        )
        await consumer.start()
        self.ready.set()
        log.info("intune.consuming", topic=self.requests_topic, group=self.settings.consumer_group)
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
        if self._owns_producer and self._producer is not None and self._started:
            await self._producer.stop()
        self._started = False

    # --- handling -----------------------------------------------------------------------------

    async def handle_record(self, record: Any) -> PullResult | None:
        try:
            request = codec.decode(codec.sync_request_adapter, record.value)
        except codec.PoisonMessage as exc:
            headers = codec.dead_letter_headers(
                str(exc), record.topic, record.partition, record.offset, CONSUMER_NAME
            )
            fut = await self._producer.send(
                topics.dlq(record.topic), record.value, key=record.key, headers=headers
            )
            await fut
            log.error(
                "intune.poison_request",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
            return None
        return await self.handle(request)

    async def handle(self, request: SyncRequested) -> PullResult | None:
        link = request.master_link
        if link.mdm_kind != "intune":
            return None  # another connector's request
        if request.credentials is not None:
            try:
                integration = open_credentials(
                    request.credentials, link.integration_id, self.settings.secrets_key
                )
            except CredentialsError as exc:
                return await self._fail(request, "intune.credentials_unusable", str(exc))
        else:
            found = self.integration(link.integration_id)
            if found is None:
                error = f"unknown Intune integration '{link.integration_id}' (not in the integrations file)"
                return await self._fail(request, "intune.unknown_integration", error)
            integration = found
        return await self.pull(integration, request)

    async def _fail(self, request: SyncRequested, event: str, error: str) -> PullResult:
        """A run that cannot start: `SyncRunFailed` with the reason (which never holds a secret)."""
        link = request.master_link
        log.error(
            event, integration_id=link.integration_id, sync_run_id=str(request.sync_run_id), error=error
        )
        await self._publish_one(
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
            try:
                self._integrations = load_integrations(self.settings.integrations_file)
            except (OSError, ValueError) as exc:  # mid-rewrite or broken: keep what we had
                log.error("intune.integrations_unreadable", error=f"{type(exc).__name__}: {exc}"[:300])
        return self._integrations.get(integration_id)

    def tokens_for(self, integration: Integration) -> TokenSource:
        provider = self._token_providers.get(integration.integration_id)
        if provider is None or getattr(provider, "integration", integration) != integration:
            provider = self._token_provider_factory(integration)
            self._token_providers[integration.integration_id] = provider
        return provider

    async def pull(self, integration: Integration, request: SyncRequested) -> PullResult:
        """One full pull of `integration`, published as a sync run. Returns what happened."""
        await self.start()
        run = SyncRun(
            integration,
            request,
            tokens=self.tokens_for(integration),
            open_http=functools.partial(self._http_client_factory, integration, self.settings),
            send=self._send_all,
            policy=self.policy,
            page_size=self.settings.page_size,
        )
        ids = {"tenant_id": request.tenant_id, "sync_run_id": str(request.sync_run_id)}
        with structlog.contextvars.bound_contextvars(**ids, integration_id=integration.integration_id):
            return await run.execute()

    async def _send_all(self, events: list[Event]) -> list[asyncio.Future[Any]]:
        futures = []
        for event in events:
            key, value = codec.encode(event)
            futures.append(await self._producer.send(self.snapshots_topic, value, key=key))
        return futures

    async def _publish_one(self, event: Event) -> None:
        await asyncio.gather(*await self._send_all([event]))


def build_app(
    settings: Settings,
    *,
    integrations: dict[str, Integration] | None = None,
    producer: Any = None,
    consumer: Any = None,
    token_provider_factory: Callable[[Integration], TokenSource] | None = None,
    http_client_factory: Callable[[Integration, Settings], httpx.AsyncClient] | None = None,
) -> IntuneConnector:
    """The composition root: tests and the benchmark pass fakes or pre-built parts; nothing starts here."""
    return IntuneConnector(
        settings,
        integrations=integrations,
        producer=producer,
        consumer=consumer,
        token_provider_factory=token_provider_factory or TokenProvider,
        http_client_factory=http_client_factory or http_client_for,
    )
