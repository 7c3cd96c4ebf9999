"""The Jamf Pro API surface the connector needs: computers and mobile devices, page by page.

Paging (the part real clients get wrong):
* `sort=id:asc` / `mobileDeviceId:asc`, so pages stay stable while names change.
* The server clamps `page-size` silently (2000): a short page is *not* the end. Page 0 tells the
  size the server really uses; the other pages are numbered from `totalCount` and that size, and
  asked for with that size, so `page` and `page-size` always agree.
* At most `max_concurrency` requests in flight (Jamf's guidance: 5), pages yielded in page order
  (the order the reconciler decides competing devices in must be the MDM's, in every run).
* Devices added or removed during the pull shift offset pages: records are deduped on id, and one
  filtered request per kind fetches whatever slipped between two pages (paging.py explains why
  counts cannot detect it and ids can).
* Computers: `/api/v4/computers-inventory`, falling back v3 -> v2 -> v1 on 404; the version that
  answered is kept in `computer_version` for the next pull of the same integration.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from connector_kit import retry

from . import paging
from .auth import ClientCredentialsProvider, TokenProvider, UserTokenProvider
from .models import Page
from .settings import COMPUTER_API_VERSIONS, Integration, OAuthIntegration
from .translate import Kind

log = structlog.get_logger(__name__)

# Jamf Cloud's gateway throttle: retried whatever its status, since the gateway has answered it with
# 429, 500 and others over the years (jamf2snipe checks the body the same way).
QUOTA_VIOLATION = b"policies.ratelimit.QuotaViolation"

COMPUTER_SECTIONS = ("GENERAL", "HARDWARE", "OPERATING_SYSTEM", "USER_AND_LOCATION", "STORAGE")
MOBILE_SECTIONS = ("GENERAL", "HARDWARE", "USER_AND_LOCATION")
MOBILE_PATH = "/api/v2/mobile-devices/detail"
ID_FIELD: dict[Kind, str] = {"computer": "id", "mobile": "mobileDeviceId"}


class JamfApiError(RuntimeError):
    """A request that failed for good (after retries). Never carries a token or secret."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NotServed(JamfApiError):
    """404: this server does not have this endpoint (an API version it predates or dropped)."""


@dataclass(frozen=True)
class InventoryPage:
    kind: Kind
    records: list[Any]  # raw records not seen before in this pull (deduped on id)
    total: int  # the server's totalCount when this page was served


class JamfClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        page_size: int = 2000,
        max_concurrency: int = 5,
        policy: retry.RetryPolicy | None = None,
        computer_versions: Sequence[str] = COMPUTER_API_VERSIONS,
        computer_version: str | None = None,
    ) -> None:
        self._http = http
        self.tokens = tokens
        self.page_size = page_size
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._policy = policy or retry.RetryPolicy()
        self.retry_stats = retry.RetryStats()
        self._versions = tuple(computer_versions)
        self.computer_version = computer_version  # remembered per integration by the caller
        self.reported_totals: dict[Kind, int] = {}
        self.pages = 0  # inventory pages fetched (gap checks included)
        self._walks: list[paging.Walk] = []

    async def inventory(self) -> AsyncGenerator[InventoryPage, None]:
        """Every computer, then every mobile device (R-J2: both kinds in one run)."""
        async with contextlib.aclosing(self.computers()) as pages:
            async for page in pages:
                yield page
        async with contextlib.aclosing(self.mobile_devices()) as pages:
            async for page in pages:
                yield page

    @property
    def reported_total(self) -> int | None:
        return sum(self.reported_totals.values()) if self.reported_totals else None

    @property
    def duplicates(self) -> int:
        return sum(w.duplicates for w in self._walks)

    async def computers(self) -> AsyncGenerator[InventoryPage, None]:
        params = [("section", s) for s in COMPUTER_SECTIONS] + [("sort", "id:asc")]
        path, first = await self._first_computer_page(params)
        async with contextlib.aclosing(self._paginate("computer", path, params, first)) as pages:
            async for page in pages:
                yield page

    async def mobile_devices(self) -> AsyncGenerator[InventoryPage, None]:
        params = [("section", s) for s in MOBILE_SECTIONS] + [("sort", "mobileDeviceId:asc")]
        first = await self._get_page(MOBILE_PATH, params, 0, self.page_size)
        async with contextlib.aclosing(self._paginate("mobile", MOBILE_PATH, params, first)) as pages:
            async for page in pages:
                yield page

    async def _first_computer_page(self, params: list[tuple[str, str]]) -> tuple[str, Page]:
        start = self._versions.index(self.computer_version) if self.computer_version in self._versions else 0
        for version in self._versions[start:]:
            path = f"/api/{version}/computers-inventory"
            try:
                first = await self._get_page(path, params, 0, self.page_size)
            except NotServed:
                log.info("jamf.api_version_not_served", path=path)
                continue
            if version != self.computer_version:
                log.info("jamf.api_version_selected", version=version)
            self.computer_version = version
            return path, first
        raise NotServed(
            f"no computers-inventory endpoint answered (tried {', '.join(self._versions[start:])})", 404
        )

    async def _paginate(
        self, kind: Kind, path: str, params: list[tuple[str, str]], first: Page
    ) -> AsyncGenerator[InventoryPage, None]:
        walk = paging.Walk(ID_FIELD[kind])
        self._walks.append(walk)
        total = first.totalCount or 0
        yield InventoryPage(kind, walk.take(0, first.results or []), total)
        returned = len(first.results or [])
        if total > returned:
            if returned == 0:
                raise JamfApiError(f"{path}: totalCount is {total} but page 0 is empty")
            size = returned  # what the server really serves per page (it clamps without a word)
            if size < self.page_size:
                log.info("jamf.page_size_clamped", path=path, asked=self.page_size, served=size)
            pages = self._pages(path, params, range(1, math.ceil(total / size)), size)
            async with contextlib.aclosing(pages) as stream:
                async for number, page in stream:
                    total = page.totalCount or 0
                    yield InventoryPage(kind, walk.take(number, page.results or []), total)
        async with contextlib.aclosing(self._fill_gaps(kind, path, params, walk)) as gap_pages:
            async for found in gap_pages:
                yield found
        self.reported_totals[kind] = total

    async def _fill_gaps(
        self, kind: Kind, path: str, params: list[tuple[str, str]], walk: paging.Walk
    ) -> AsyncGenerator[InventoryPage, None]:
        """Devices that slipped between pages while the set moved (see paging.py)."""
        for expr in paging.gap_filters(walk.id_field, walk.gaps()):
            filtered = [*params, ("filter", expr)]
            try:
                first = await self._get_page(path, filtered, 0, self.page_size)
            except JamfApiError as exc:
                if exc.status != 400:
                    raise
                log.warning("jamf.gap_check_unsupported", path=path, error=str(exc))
                return
            found = [first]
            size = len(first.results or [])
            if size and (first.totalCount or 0) > size:
                numbers = range(1, math.ceil((first.totalCount or 0) / size))
                async with contextlib.aclosing(self._pages(path, filtered, numbers, size)) as stream:
                    found += [page async for _, page in stream]
            for page in found:
                fresh = walk.take(None, page.results or [])
                if fresh:
                    log.info("jamf.devices_found_between_pages", kind=kind, count=len(fresh))
                    yield InventoryPage(kind, fresh, page.totalCount or 0)

    async def _pages(
        self, path: str, params: list[tuple[str, str]], numbers: Iterable[int], size: int
    ) -> AsyncGenerator[tuple[int, Page], None]:
        """(number, page) in page order, at most `max_concurrency` requests outstanding.

        Pages are fetched concurrently but yielded in the order the server lists them (R-M13 and
        issue 9): the reconciler decides competing devices (two records with one serial, two
        devices wanting one asset number) in the order it receives them, so that order must be
        the MDM's own stable order (`sort=id:asc`), the same in every run and every attempt, not
        the order in which responses happen to complete. A window of `max_concurrency` pages
        bounds memory; a slow head page holds back at most that many finished ones."""
        todo = iter(numbers)
        window: collections.deque[tuple[int, asyncio.Task[Page]]] = collections.deque()
        try:
            while True:
                while len(window) < self.max_concurrency and (n := next(todo, None)) is not None:
                    window.append((n, asyncio.create_task(self._get_page(path, params, n, size))))
                if not window:
                    return
                number, head = window.popleft()
                yield number, await head
        finally:
            for _, task in window:
                task.cancel()
            await asyncio.gather(*(task for _, task in window), return_exceptions=True)

    async def _get_page(self, path: str, params: list[tuple[str, str]], page: int, size: int) -> Page:
        response = await self._get(path, [*params, ("page", str(page)), ("page-size", str(size))])
        try:
            # json.loads, then the envelope: faster than pydantic parsing `list[Any]` from JSON itself
            parsed = Page.model_validate(json.loads(response.content))
        except (ValueError, ValidationError):
            raise JamfApiError(
                f"GET {path} page {page}: not an inventory page", response.status_code
            ) from None
        if parsed.totalCount is None:
            raise JamfApiError(f"GET {path} page {page}: no totalCount", response.status_code)
        self.pages += 1
        return parsed

    async def _get(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        async with self._slots:
            for reauth in (False, True):
                token = await self.tokens.token()
                response = await retry.request(
                    self._http,
                    "GET",
                    path,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    policy=self._policy,
                    retryable=is_retryable,
                    stats=self.retry_stats,
                )
                if response.status_code != 401 or reauth:
                    break
                log.info("jamf.token_rejected", path=path)  # revoked or expired early: one re-mint
                self.tokens.invalidate(token)
        if response.is_success:
            return response
        code = _error_code(response)
        message = f"GET {path}: {response.status_code}{f' {code}' if code else ''}"
        if response.status_code == 404:
            raise NotServed(message, 404, code)
        raise JamfApiError(message, response.status_code, code)


def is_retryable(response: httpx.Response) -> bool:
    """429, every 5xx, and any error reply carrying Jamf Cloud's QuotaViolation."""
    if response.status_code == 429 or response.status_code >= 500:
        return True
    return response.status_code >= 400 and QUOTA_VIOLATION in response.content


def _error_code(response: httpx.Response) -> str | None:
    if QUOTA_VIOLATION in response.content:
        return "QuotaViolation"
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        return str(first.get("code")) if isinstance(first, dict) else None
    return None


@contextlib.asynccontextmanager
async def open_client(
    integration: Integration,
    *,
    timeout_s: float = 60.0,
    transport: httpx.AsyncBaseTransport | None = None,
    **options: Any,
) -> AsyncIterator[JamfClient]:
    """A client for one integration: its base URL, CA bundle and token flavour."""
    verify: ssl.SSLContext | bool = True
    if integration.ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(integration.ca_bundle))
    concurrency = int(options.get("max_concurrency", 5))
    async with httpx.AsyncClient(
        base_url=integration.base_url.rstrip("/"),
        verify=verify,
        timeout=timeout_s,
        limits=httpx.Limits(max_connections=concurrency + 1),  # +1: a token mint while pages wait
        transport=transport,
        trust_env=integration.ca_bundle is None,  # a private CA means a private server: no env proxy
        headers={"Accept": "application/json", "User-Agent": "device-ledger-jamf-connector/0.1"},
    ) as http:
        token_options = {k: options[k] for k in ("policy", "clock") if k in options}
        options.pop("clock", None)
        tokens: TokenProvider
        if isinstance(integration, OAuthIntegration):
            tokens = ClientCredentialsProvider(
                http, integration.client_id, integration.client_secret, **token_options
            )
        else:
            tokens = UserTokenProvider(http, integration.username, integration.password, **token_options)
        yield JamfClient(http, tokens, **options)
