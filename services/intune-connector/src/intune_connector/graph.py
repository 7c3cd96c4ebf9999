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
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from .auth import TokenSource
from .translate import GRAPH_FIELDS

LIST_PATH = "/v1.0/deviceManagement/managedDevices"
RETRYABLE = frozenset({429, 500, 502, 503, 504})

log = structlog.get_logger(__name__)


class GraphError(Exception):
    """The listing failed for good. The message is safe to publish (no token, no secret)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_retry_after_s: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        # "Equal jitter": never retry immediately (every request counts against the throttle), but
        # spread clients out.
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return delay / 2 + rng.uniform(0, delay / 2)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait: Graph sends fractional seconds ("2.128"); RFC 9110 also allows an HTTP-date."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN -> None


@dataclass
class Page:
    number: int
    devices: list[dict[str, Any]]  # new devices only (duplicates by id removed)
    reported_total: int | None  # @odata.count of this page


@dataclass
class ListingStats:
    pages: int = 0
    fetched: int = 0  # unique devices
    duplicates: int = 0
    reported_total: int | None = None  # @odata.count of the first page: the size when we started
    retries: int = 0
    token_refreshes: int = 0
    started: float = field(default_factory=time.monotonic)


def _graph_message(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error", {})
        return f"{err.get('code', '?')}: {str(err.get('message', ''))[:200]}"
    except (ValueError, AttributeError):
        return resp.reason_phrase


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    return u.scheme, u.host, u.port or {"https": 443, "http": 80}.get(u.scheme)


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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.policy = policy or RetryPolicy()
        self.page_size = page_size
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = ListingStats()

    def first_url(self) -> str:
        return f"{self.base_url}{LIST_PATH}?$select={','.join(GRAPH_FIELDS)}&$top={self.page_size}"

    async def pages(self) -> AsyncIterator[Page]:
        seen: set[str] = set()
        url: str | None = self.first_url()
        while url is not None:
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
        token = await self.tokens.token()
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self.http.get(url, headers={"Authorization": f"Bearer {token}"})
            except httpx.TransportError as exc:
                reason, delay = type(exc).__name__, self.policy.backoff(attempt, self._rng)
            else:
                if resp.status_code == 200:
                    return self._page_body(resp)
                if resp.status_code == 401 and not refreshed:
                    # Expired or revoked under us: one new token, then the same link again.
                    refreshed, attempt = True, attempt - 1
                    self.stats.token_refreshes += 1
                    log.info("graph.unauthorized_refreshing_token", page=self.stats.pages + 1)
                    token = await self.tokens.refresh()
                    continue
                if resp.status_code not in RETRYABLE:
                    raise GraphError(self._failure(resp), resp.status_code)
                reason = str(resp.status_code)
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                if retry_after is not None:
                    delay = min(retry_after, self.policy.max_retry_after_s)
                else:
                    delay = self.policy.backoff(attempt, self._rng)
            if attempt >= self.policy.max_attempts:
                raise GraphError(
                    f"Graph managedDevices: gave up on page {self.stats.pages + 1} after "
                    f"{attempt} attempts (last: {reason})"
                )
            self.stats.retries += 1
            log.warning(
                "graph.retry",
                page=self.stats.pages + 1,
                attempt=attempt,
                reason=reason,
                delay_s=round(delay, 3),
            )
            await self._sleep(delay)

    def _failure(self, resp: httpx.Response) -> str:
        hint = {
            401: " (a freshly issued token was rejected too)",
            403: " (is DeviceManagementManagedDevices.Read.All granted with admin consent?)",
        }.get(resp.status_code, "")
        return f"Graph managedDevices returned {resp.status_code}: {_graph_message(resp)}{hint}"

    @staticmethod
    def _page_body(resp: httpx.Response) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            raise GraphError("Graph managedDevices returned a page that is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise GraphError("Graph managedDevices returned a page without a 'value' array")
        return body
