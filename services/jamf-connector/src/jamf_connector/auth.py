"""Bearer tokens for the Jamf Pro API, kept apart from the API surface (as jamf-pro-sdk-python does).

Two flavours, chosen by the integration's credentials:

* `ClientCredentialsProvider` — an OAuth API client: `POST /api/oauth/token` (form). The lifetime
  is the reply's `expires_in` (configured per API client in Jamf, 60 s … hours): never assumed.
  Client tokens cannot be kept alive, so a fresh one is minted before the old one runs out.
* `UserTokenProvider` — username/password: `POST /api/v1/auth/token` (basic auth) gives
  `{token, expires}` (30 minutes by default). Near the end it is extended with
  `POST /api/v1/auth/keep-alive` (which replaces it); once expired, or if keep-alive is refused,
  a new one is minted.

A token is renewed when less than `slack` is left: a quarter of its lifetime, at most 60 s, so a
long page request never starts with a token about to die, and short test lifetimes still work.
Callers that get a 401 anyway (revoked, clock skew) call `invalidate(token)` and ask again.
Tokens and secrets are never logged: `AccessToken` hides its value from repr.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from connector_kit import retry

log = structlog.get_logger(__name__)
Clock = Callable[[], float]


class AuthError(RuntimeError):
    """Jamf refused the credentials or a token. The message never holds a secret or token."""


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # on the provider's (monotonic) clock
    lifetime_s: float

    @property
    def slack_s(self) -> float:
        return min(60.0, self.lifetime_s / 4)

    def remaining_s(self, now: float) -> float:
        return self.expires_at - now


class TokenProvider(ABC):
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        policy: retry.RetryPolicy | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self._http = http
        self._policy = policy or retry.RetryPolicy()
        self._clock = clock
        self._lock = asyncio.Lock()  # one mint at a time, however many pages are waiting
        self._token: AccessToken | None = None
        self.minted = 0  # for tests and metrics: how many tokens this provider obtained

    async def token(self) -> str:
        async with self._lock:
            current, now = self._token, self._clock()
            if current is None or current.remaining_s(now) <= current.slack_s:
                current = self._token = await self._renew(current, now)
                self.minted += 1
            return current.value

    def invalidate(self, value: str) -> None:
        """Forget `value` if it is still the cached token (another caller may have renewed it)."""
        if self._token is not None and self._token.value == value:
            self._token = None

    @abstractmethod
    async def _renew(self, current: AccessToken | None, now: float) -> AccessToken: ...

    async def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await retry.request(self._http, "POST", path, policy=self._policy, **kwargs)


class ClientCredentialsProvider(TokenProvider):
    def __init__(
        self, http: httpx.AsyncClient, client_id: str, client_secret: SecretStr, **options: Any
    ) -> None:
        super().__init__(http, **options)
        self._client_id = client_id
        self._client_secret = client_secret

    async def _renew(self, current: AccessToken | None, now: float) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
        }
        response = await self._post("/api/oauth/token", data=form)
        if response.status_code != 200:
            raise AuthError(f"OAuth token request refused: {response.status_code} {_oauth_error(response)}")
        body = response.json()
        try:
            value, lifetime = str(body["access_token"]), float(body["expires_in"])
        except (KeyError, TypeError, ValueError):
            raise AuthError("OAuth token reply without access_token/expires_in") from None
        log.info("jamf.token_minted", flavour="oauth", lifetime_s=lifetime)
        return AccessToken(value, self._clock() + lifetime, lifetime)


class UserTokenProvider(TokenProvider):
    def __init__(self, http: httpx.AsyncClient, username: str, password: SecretStr, **options: Any) -> None:
        super().__init__(http, **options)
        self._username = username
        self._password = password
        self.kept_alive = 0

    async def _renew(self, current: AccessToken | None, now: float) -> AccessToken:
        # Keep-alive needs a still-valid token; leave a margin for the request's own latency.
        if current is not None and current.remaining_s(now) > min(5.0, current.lifetime_s / 10):
            response = await self._post(
                "/api/v1/auth/keep-alive", headers={"Authorization": f"Bearer {current.value}"}
            )
            if response.status_code == 200:
                self.kept_alive += 1
                return self._parse(response, "keep-alive")
            log.info("jamf.keep_alive_refused", status=response.status_code)
        auth = httpx.BasicAuth(self._username, self._password.get_secret_value())
        response = await self._post("/api/v1/auth/token", auth=auth)
        if response.status_code != 200:
            raise AuthError(f"user token request refused: {response.status_code} {_jamf_error(response)}")
        return self._parse(response, "basic")

    def _parse(self, response: httpx.Response, how: str) -> AccessToken:
        body = response.json()
        try:
            value = str(body["token"])
            expires = datetime.fromisoformat(str(body["expires"]))
        except (KeyError, TypeError, ValueError):
            raise AuthError(f"user token reply ({how}) without token/expires") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        lifetime = max(0.0, (expires - datetime.now(UTC)).total_seconds())
        log.info("jamf.token_minted", flavour="user", via=how, lifetime_s=round(lifetime, 1))
        return AccessToken(value, self._clock() + lifetime, lifetime)


def _oauth_error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))  # RFC 6749: invalid_client, invalid_scope, …
    except ValueError:
        return ""


def _jamf_error(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or [{}]
        return str(errors[0].get("code", ""))  # e.g. INVALID_CREDENTIALS, USER_EXPIRED_PASSWORD
    except (ValueError, AttributeError, IndexError):
        return ""
