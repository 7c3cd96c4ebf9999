"""The ledger API as the console sees it: the public HTTP API only (SPEC §8), with the session's
token. The console has no database and no broker of its own.

`Capabilities` reads the API's own OpenAPI document, so the console offers what the running API
offers (a connection test, token scopes, settings changes) and says so plainly when it does not.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import structlog

log = structlog.get_logger(__name__)

Scope = Literal["admin", "read"]


class ApiError(Exception):
    """An answer of the API that is not a success: its status and `{"error": {...}}` body."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
            err = body.get("error") if isinstance(body, dict) else None
        except ValueError:
            err = None
        if isinstance(err, dict):
            return cls(
                response.status_code,
                str(err.get("code") or "error"),
                str(err.get("message") or ""),
                err.get("details"),
            )
        return cls(response.status_code, "http_error", response.reason_phrase or "")


class ApiUnavailable(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(503, "api_unavailable", reason)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


class Api:
    """One session's view of the API: every call carries its bearer token."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        ok: tuple[int, ...] = (),
    ) -> Answer:
        """The answer of a 2xx (or a status listed in `ok`); any other status raises ApiError."""
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = await self._http.request(
                method, path, params=params, json=json, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            log.warning("api.unreachable", path=path, error=type(exc).__name__)
            raise ApiUnavailable(f"{type(exc).__name__}") from exc
        if response.status_code >= 400 and response.status_code not in ok:
            raise ApiError.from_response(response)
        body: Any = None
        if response.content and response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
        return Answer(response.status_code, body, response.headers)

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return (await self.request("GET", path, params=params)).body

    @asynccontextmanager
    async def stream(
        self, path: str, params: Mapping[str, str] | None = None
    ) -> AsyncIterator[httpx.Response]:
        """A streamed GET (CSV export): the body is passed through, never held whole."""
        request = self._http.build_request("GET", path, params=params, headers=self._headers)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise ApiUnavailable(type(exc).__name__) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise ApiError.from_response(response)
            yield response
        finally:
            await response.aclose()


class Capabilities:
    """The (method, path) pairs of the API's OpenAPI, re-read at most every `ttl` seconds."""

    def __init__(self, http: httpx.AsyncClient, ttl: float = 30.0) -> None:
        self._http = http
        self._ttl = ttl
        self._ops: set[tuple[str, str]] = set()
        self._schemas: dict[str, Any] = {}
        self._loaded_at = float("-inf")

    async def _refresh(self) -> None:
        if time.monotonic() - self._loaded_at < self._ttl:
            return
        try:
            doc = (await self._http.get("/openapi.json")).json()
        except (httpx.HTTPError, ValueError):
            return  # keep what we knew; pages fall back to "not offered"
        ops = set()
        for path, item in (doc.get("paths") or {}).items():
            for method in item:
                ops.add((method.upper(), path))
        self._ops = ops
        self._schemas = (doc.get("components") or {}).get("schemas") or {}
        self._loaded_at = time.monotonic()

    async def has(self, method: str, path: str) -> bool:
        await self._refresh()
        return (method.upper(), path) in self._ops

    async def find(self, method: str, *fragments: str) -> str | None:
        """The first path of `method` containing every fragment (paths other helpers are adding)."""
        await self._refresh()
        for m, p in sorted(self._ops):
            if m == method.upper() and all(f in p for f in fragments):
                return p
        return None


async def detect_scope(api: Api, caps: Capabilities) -> Scope:
    """What the token may do, by what the API says (issue 10 adds scopes). The one place to adapt.

    1. A "who am I" endpoint (`GET /v1/me`, `/v1/tokens/current`, `/v1/tokens/me`) naming scopes.
    2. Else the token list (`GET /v1/tokens`), which only an admin may read: 403 → read.
    3. Else the API has no scopes at all: every token is an admin (the bootstrap tokens)."""
    for path in ("/v1/me", "/v1/tokens/current", "/v1/tokens/me", "/v1/whoami"):
        if await caps.has("GET", path):
            body = await api.get(path)
            scopes = _scopes_of(body)
            if scopes is not None:
                return "admin" if "admin" in scopes else "read"
    if await caps.has("GET", "/v1/tokens"):
        answer = await api.request("GET", "/v1/tokens", params={"limit": "1"}, ok=(400, 403, 422))
        if answer.status == 403:
            return "read"
        if answer.status in (400, 422):  # no `limit` there: ask plainly
            answer = await api.request("GET", "/v1/tokens", ok=(403,))
            if answer.status == 403:
                return "read"
    return "admin"


def _scopes_of(body: Any) -> list[str] | None:
    if not isinstance(body, dict):
        return None
    for holder in (body, body.get("token") or {}):
        if isinstance(holder, dict):
            scopes = holder.get("scopes")
            if isinstance(scopes, list):
                return [str(s) for s in scopes]
            scope = holder.get("scope")
            if isinstance(scope, str):
                return [scope]
    return None


async def tenant_time_zone(api: Api, caps: Capabilities) -> str:
    """The tenant's IANA zone (see `tenant_time_zone_and_source`)."""
    return (await tenant_time_zone_and_source(api, caps))[0]


async def tenant_time_zone_and_source(api: Api, caps: Capabilities) -> tuple[str, bool]:
    """The tenant's IANA zone, and whether it is the tenant's own setting: its settings when the
    API has them (issue 10), else the zone of its first master link's schedule (the tenant's by
    default), else UTC (both guesses are looked at again later)."""
    for path in ("/v1/tenant", "/v1/tenant/settings", "/v1/settings"):
        if await caps.has("GET", path):
            try:
                body = await api.get(path)
            except ApiError:
                break
            if isinstance(body, dict):
                tz = body.get("time_zone") or (body.get("tenant") or {}).get("time_zone")
                if tz:
                    return str(tz), True
            break
    try:
        links = await api.get("/v1/master-links", {"include_removed": "true"})
    except ApiError:
        return "UTC", False
    for link in (links or {}).get("items", []):
        tz = (link.get("schedule") or {}).get("time_zone")
        if tz:
            return str(tz), False
    return "UTC", False
