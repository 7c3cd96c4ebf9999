"""Pages of Intune managedDevices from Microsoft Graph (research notes §1, §3, §4).

- `$select` only what translation reads, `$top=1000`; follow `@odata.nextLink` verbatim until absent.
- 429/5xx/connection errors: wait `Retry-After` (seconds, possibly fractional, or an HTTP-date),
  else jittered exponential backoff; a bounded number of attempts per page.
- 401: force one new token and retry the same link (tokens die mid-crawl: 60–90 min lifetimes).
- Keyset paging can return a renamed device twice: dedupe by `id`. Graph is known to under-deliver on
  large tenants, so the number fetched is compared with `@odata.count` and a mismatch is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import structlog

from connector_kit import retry
from connector_kit.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

from .auth import TokenSource
from .translate import GRAPH_FIELDS

if TYPE_CHECKING:
    from .settings import Integration, Settings

LIST_PATH = "/v1.0/deviceManagement/managedDevices"
MAX_PAGES = 10_000  # 10 million devices at $top=1000: more pages means a nextLink loop
T = TypeVar("T")

__all__ = ["GraphError", "ManagedDevices", "RetryPolicy", "http_client_for", "parse_retry_after", "prefetch"]

log = structlog.get_logger(__name__)


class GraphError(Exception):
    """The listing failed for good. The message is safe to publish (no token, no secret)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Page:
    number: int
    devices: list[Any]  # new devices only (duplicates by id removed)
    reported_total: int | None  # @odata.count of this page


@dataclass
class ListingStats:
    pages: int = 0
    fetched: int = 0  # unique devices
    duplicates: int = 0
    reported_total: int | None = None  # @odata.count of the first page: the size when we started
    token_refreshes: int = 0
    retry: retry.RetryStats = field(default_factory=retry.RetryStats)
    started: float = field(default_factory=time.monotonic)

    @property
    def retries(self) -> int:
        return self.retry.retries


def _graph_message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"{err.get('code', '?')}: {str(err.get('message', ''))[:200]}"
    except (ValueError, AttributeError):
        return resp.reason_phrase


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    return u.scheme, u.host, u.port or {"https": 443, "http": 80}.get(u.scheme)


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


class ManagedDevices:
    """Lists one tenant's managedDevices. Use `pages()` once per instance."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        http: httpx.AsyncClient,
        *,
        policy: RetryPolicy | None = None,
        page_size: int = 1000,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.policy = policy or RetryPolicy()
        self.page_size = page_size
        self.stats = ListingStats()

    def first_url(self) -> str:
        return f"{self.base_url}{LIST_PATH}?$select={','.join(GRAPH_FIELDS)}&$top={self.page_size}"

    async def pages(self) -> AsyncIterator[Page]:
        seen: set[str] = set()
        links: set[str] = set()
        url: str | None = self.first_url()
        while url is not None:
            if url in links or self.stats.pages >= MAX_PAGES:
                # A server that sends a link it already sent would page forever.
                raise GraphError(
                    f"Graph managedDevices: @odata.nextLink of page {self.stats.pages} repeats an earlier "
                    "page (a paging loop); the pull is incomplete"
                )
            links.add(url)
            body = await self._get(url)
            self.stats.pages += 1
            count = body.get("@odata.count")
            count = count if isinstance(count, int) and not isinstance(count, bool) else None
            if self.stats.pages == 1:
                self.stats.reported_total = count
            fresh = []
            for device in body["value"]:
                dev_id = device.get("id") if isinstance(device, dict) else None
                if isinstance(dev_id, str):
                    if dev_id in seen:
                        self.stats.duplicates += 1
                        continue
                    seen.add(dev_id)
                fresh.append(device)  # no usable id: translation reports it as malformed
            self.stats.fetched += len(fresh)
            yield Page(self.stats.pages, fresh, count)
            url = body.get("@odata.nextLink")
            if url is not None and (not isinstance(url, str) or _origin(url) != _origin(self.base_url)):
                # Following a link to another host would hand it our bearer token.
                raise GraphError("@odata.nextLink points outside the Graph base URL; refusing to follow it")
        s = self.stats
        if s.reported_total is not None and s.fetched != s.reported_total:
            log.warning(
                "graph.count_mismatch",
                reported_total=s.reported_total,
                fetched=s.fetched,
                duplicates=s.duplicates,
            )

    async def _get(self, url: str) -> dict[str, Any]:
        page = self.stats.pages + 1
        token = await self.tokens.token()
        for refreshed in (False, True):
            try:
                resp = await retry.request(
                    self.http,
                    "GET",
                    url,
                    headers={"Authorization": f"Bearer {token}"},
                    policy=self.policy,
                    stats=self.stats.retry,
                )
            except httpx.TransportError as exc:
                raise GraphError(
                    f"Graph managedDevices: gave up on page {page} after {self.policy.max_attempts} "
                    f"attempts (last: {type(exc).__name__})"
                ) from None
            if resp.status_code == 200:
                return self._page_body(resp, page)
            if resp.status_code == 401 and not refreshed:
                # Expired or revoked under us: one new token, then the same link again.
                self.stats.token_refreshes += 1
                log.info("graph.unauthorized_refreshing_token", page=page)
                token = await self.tokens.refresh()
                continue
            if resp.status_code in RETRY_STATUSES:
                raise GraphError(
                    f"Graph managedDevices: gave up on page {page} after {self.policy.max_attempts} "
                    f"attempts (last: {resp.status_code})",
                    resp.status_code,
                )
            raise GraphError(self._failure(resp), resp.status_code)
        raise AssertionError("unreachable: the second 401 raises above")

    def _failure(self, resp: httpx.Response) -> str:
        hint = {
            401: " (a freshly issued token was rejected too)",
            403: " (is DeviceManagementManagedDevices.Read.All granted with admin consent?)",
        }.get(resp.status_code, "")
        return f"Graph managedDevices returned {resp.status_code}: {_graph_message(resp)}{hint}"

    @staticmethod
    def _page_body(resp: httpx.Response, page: int) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:  # truncated, not JSON, or not UTF-8
            raise GraphError(f"Graph managedDevices returned page {page} that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise GraphError(f"Graph managedDevices returned page {page} without a 'value' array")
        return body
