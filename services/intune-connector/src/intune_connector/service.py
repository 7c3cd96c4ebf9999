"""The connector's composition root and its Kafka shell (R-E1, SPEC §9).

Consumes `mdm.sync-requests.v1` (group `intune-connector`, commit after handling: at-least-once),
pulls the integration's managedDevices and publishes to `mdm.snapshots.v1`, keyed by tenant:
`SyncRunStarted`, one `DeviceObserved` per device as pages arrive, then `SyncRunCompleted` — or
`SyncRunFailed`, never a completed run after a partial pull. Undecodable requests go to the DLQ.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from ledger_contracts import (
    DeviceObserved,
    Event,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    codec,
    topics,
)

from .auth import AuthError, TokenProvider, TokenSource, redact
from .graph import GraphError, ManagedDevices, RetryPolicy
from .settings import Integration, Settings, load_integrations
from .translate import MalformedDevice, translate_device

CONSUMER_NAME = "intune-connector"
T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PullResult:
    status: str  # "completed" | "failed"
    devices_observed: int
    reported_total: int | None = None
    malformed: int = 0
    duplicates: int = 0
    pages: int = 0
    seconds: float = 0.0
    error: str | None = None


async def prefetch(source: AsyncIterator[T], depth: int = 1) -> AsyncIterator[T]:
    """Iterate `source` in a background task, `depth` items ahead: the next Graph page downloads
    while this one is translated and published."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(("item", item))
        except Exception as exc:  # handed to the consumer; cancellation is not
            await queue.put(("error", exc))
        else:
            await queue.put(("done", None))

    task = asyncio.create_task(pump())
    try:
        while True:
            kind, value = await queue.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def http_client_for(integration: Integration, settings: Settings) -> httpx.AsyncClient:
    if integration.ca_bundle is not None:
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(integration.ca_bundle))
    else:
        verify = True
    return httpx.AsyncClient(
        verify=verify,
        trust_env=integration.ca_bundle is None,
        timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
        headers={"Accept": "application/json", "User-Agent": "device-ledger-intune-connector/0.1"},
    )


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
        integration = self.integration(link.integration_id)
        if integration is None:
            error = f"unknown Intune integration '{link.integration_id}' (not in the integrations file)"
            log.error(
                "intune.unknown_integration",
                integration_id=link.integration_id,
                sync_run_id=str(request.sync_run_id),
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
        return await self.pull(integration, request)

    def integration(self, integration_id: str) -> Integration | None:
        if integration_id not in self._integrations and self.settings.integrations_file is not None:
            # Integrations are added while we run (R-S3): look at the file again before giving up.
            self._integrations = load_integrations(self.settings.integrations_file)
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
        await self._publish_one(
            SyncRunStarted(**common, master_link=request.master_link, dry_run=request.dry_run)
        )
        log.info("intune.pull_started")
        observed = malformed = 0
        listing: ManagedDevices | None = None
        pending: list[asyncio.Future[Any]] = []
        try:
            async with self._http_client_factory(integration, self.settings) as http:
                listing = ManagedDevices(
                    integration.graph_base_url,
                    self.tokens_for(integration),
                    http,
                    policy=self.policy,
                    page_size=self.settings.page_size,
                )
                async for page in prefetch(listing.pages()):
                    events = []
                    for raw in page.devices:
                        try:
                            translated = translate_device(raw)
                        except MalformedDevice as exc:
                            malformed += 1
                            log.warning("intune.malformed_device", error=str(exc), page=page.number)
                            continue
                        for warning in translated.warnings:
                            log.warning("intune.translation_warning", detail=warning)
                        events.append(DeviceObserved(**common, integration_id=iid, device=translated.device))
                    # Publish this page, then wait for the previous page's acks: one page in flight
                    # keeps memory flat (100k devices are never held) without stalling the producer.
                    sent = await self._send_all(events)
                    await asyncio.gather(*pending)
                    pending = sent
                    observed += len(events)
                await asyncio.gather(*pending)
        except (GraphError, AuthError, httpx.HTTPError, ValueError) as exc:
            error = self._safe_error(exc, integration)
            return await self._fail(request, integration, observed, pending, error, started, listing)
        except KafkaError:
            raise  # cannot publish anything now; the request stays uncommitted and comes back
        except Exception as exc:  # a bug: still end the run visibly rather than leave it "running"
            log.exception("intune.pull_crashed")
            error = self._safe_error(exc, integration)
            return await self._fail(request, integration, observed, pending, error, started, listing)
        stats = listing.stats if listing else None
        reported = stats.reported_total if stats else None
        await self._publish_one(
            SyncRunCompleted(**common, integration_id=iid, devices_observed=observed, reported_total=reported)
        )
        result = PullResult(
            "completed",
            observed,
            reported,
            malformed,
            stats.duplicates if stats else 0,
            stats.pages if stats else 0,
            time.monotonic() - started,
        )
        log.info(
            "intune.pull_completed",
            devices_observed=observed,
            reported_total=reported,
            malformed=malformed,
            duplicates=result.duplicates,
            pages=result.pages,
            retries=stats.retries if stats else 0,
            seconds=round(result.seconds, 3),
        )
        return result

    async def _fail(
        self,
        request: SyncRequested,
        integration: Integration,
        observed: int,
        pending: list[asyncio.Future[Any]],
        error: str,
        started: float,
        listing: ManagedDevices | None,
    ) -> PullResult:
        await asyncio.gather(*pending)  # the failure must come after every device already sent
        await self._publish_one(
            SyncRunFailed(
                tenant_id=request.tenant_id,
                sync_run_id=request.sync_run_id,
                integration_id=integration.integration_id,
                devices_observed=observed,
                error=error,
            )
        )
        log.error("intune.pull_failed", error=error, devices_observed=observed)
        pages = listing.stats.pages if listing else 0
        return PullResult("failed", observed, pages=pages, seconds=time.monotonic() - started, error=error)

    @staticmethod
    def _safe_error(exc: BaseException, integration: Integration) -> str:
        text = str(exc) if isinstance(exc, GraphError | AuthError) else f"{type(exc).__name__}: {exc}"
        return redact(text, [integration.client_secret.get_secret_value()])[:1000]

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
