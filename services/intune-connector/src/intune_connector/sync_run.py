"""One sync run: page through Graph, translate, publish each page as it arrives (R-E1, SPEC §9).

Events, all keyed by tenant (one partition, so in order): `SyncRunStarted`, one `DeviceObserved` per
device, then `SyncRunCompleted` — or `SyncRunFailed` after whatever was already sent, never a
completed run after a partial pull. A malformed device is counted and skipped, not fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import structlog
from aiokafka.errors import KafkaError

from ledger_contracts import (
    DeviceObserved,
    Event,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

from .auth import AuthError, TokenSource, redact
from .graph import GraphError, ListingStats, ManagedDevices, RetryPolicy
from .settings import Integration, Settings
from .translate import MalformedDevice, translate_device

# Per-device problems are logged one by one up to this many per run, then only counted: a new enum
# value in Graph would otherwise log one line per device (100,000 lines).
DETAILED_WARNINGS = 20
T = TypeVar("T")
Send = Callable[[list[Event]], Awaitable[list["asyncio.Future[Any]"]]]

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
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

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
        trust_env=integration.ca_bundle is None,  # a private CA means a local endpoint: no env proxy
        timeout=httpx.Timeout(settings.request_timeout_s, connect=10.0),
        headers={"Accept": "application/json", "User-Agent": "device-ledger-intune-connector/0.1"},
    )


@dataclass
class SyncRun:
    integration: Integration
    request: SyncRequested
    tokens: TokenSource
    open_http: Callable[[], httpx.AsyncClient]
    send: Send  # publishes events in order; returns one delivery future per event
    policy: RetryPolicy
    page_size: int = 1000

    async def execute(self) -> PullResult:
        started = time.monotonic()
        req, iid = self.request, self.integration.integration_id
        common = {"tenant_id": req.tenant_id, "sync_run_id": req.sync_run_id}
        await self._publish(SyncRunStarted(**common, master_link=req.master_link, dry_run=req.dry_run))
        log.info("intune.pull_started")
        observed = malformed = warnings = 0
        stats = ListingStats()
        pending: list[asyncio.Future[Any]] = []
        try:
            async with self.open_http() as http:
                listing = ManagedDevices(
                    self.integration.graph_base_url,
                    self.tokens,
                    http,
                    policy=self.policy,
                    page_size=self.page_size,
                )
                stats = listing.stats
                async for page in prefetch(listing.pages()):
                    events = []
                    for raw in page.devices:
                        try:
                            translated = translate_device(raw)
                        except MalformedDevice as exc:
                            malformed += 1
                            if malformed <= DETAILED_WARNINGS:
                                log.warning("intune.malformed_device", error=str(exc), page=page.number)
                            continue
                        for warning in translated.warnings:
                            warnings += 1
                            if warnings <= DETAILED_WARNINGS:
                                log.warning("intune.translation_warning", detail=warning)
                        events.append(DeviceObserved(**common, integration_id=iid, device=translated.device))
                    # Publish this page, then wait for the previous page's acks: one page in flight
                    # keeps memory flat (100k devices are never held) without stalling the producer.
                    sent = await self.send(events)
                    await asyncio.gather(*pending)
                    pending = sent
                    observed += len(events)
                await asyncio.gather(*pending)
        except KafkaError:
            raise  # nothing can be published now; the request stays uncommitted and comes back
        except Exception as exc:
            if not isinstance(exc, GraphError | AuthError | httpx.HTTPError | OSError | ValueError):
                log.exception("intune.pull_crashed")  # a bug: still end the run visibly
            return await self._fail(observed, pending, self._safe_error(exc), started, stats)
        await self._publish(
            SyncRunCompleted(
                **common, integration_id=iid, devices_observed=observed, reported_total=stats.reported_total
            )
        )
        result = PullResult(
            "completed",
            observed,
            stats.reported_total,
            malformed,
            stats.duplicates,
            stats.pages,
            time.monotonic() - started,
        )
        log.info(
            "intune.pull_completed",
            devices_observed=observed,
            reported_total=stats.reported_total,
            malformed=malformed,
            translation_warnings=warnings,
            duplicates=stats.duplicates,
            pages=stats.pages,
            retries=stats.retries,
            seconds=round(result.seconds, 3),
        )
        return result

    async def _fail(
        self,
        observed: int,
        pending: list[asyncio.Future[Any]],
        error: str,
        started: float,
        stats: ListingStats,
    ) -> PullResult:
        await asyncio.gather(*pending)  # the failure must come after every device already sent
        req = self.request
        await self._publish(
            SyncRunFailed(
                tenant_id=req.tenant_id,
                sync_run_id=req.sync_run_id,
                integration_id=self.integration.integration_id,
                devices_observed=observed,
                error=error,
            )
        )
        log.error("intune.pull_failed", error=error, devices_observed=observed)
        return PullResult(
            "failed", observed, pages=stats.pages, seconds=time.monotonic() - started, error=error
        )

    def _safe_error(self, exc: BaseException) -> str:
        """A reason fit for an event and a log line: ours are already safe; others get the secret masked."""
        text = str(exc) if isinstance(exc, GraphError | AuthError) else f"{type(exc).__name__}: {exc}"
        return redact(text, [self.integration.client_secret.get_secret_value()])[:1000]

    async def _publish(self, event: Event) -> None:
        await asyncio.gather(*await self.send([event]))
