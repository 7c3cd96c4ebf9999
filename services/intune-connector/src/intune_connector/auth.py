"""Access tokens for Graph: one long-lived MSAL confidential client per integration.

MSAL is synchronous (requests); every call runs in a worker thread so the event loop never blocks.
Constructing the client performs OIDC discovery over the network, so it is built lazily, off-loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import structlog

from connector_kit import redact

from .settings import Integration

GRAPH_SCOPE = "https://graph.microsoft.com/.default"

log = structlog.get_logger(__name__)


class AuthError(Exception):
    """No token could be obtained. The message carries Entra ID's error code, never a credential."""


class TokenSource(Protocol):
    async def token(self) -> str: ...
    async def refresh(self) -> str: ...


def _msal_app(integration: Integration) -> Any:
    import msal
    import requests

    session = requests.Session()
    if integration.ca_bundle is not None:
        session.verify = str(integration.ca_bundle)
        session.trust_env = False  # a local CA means a local endpoint: no proxy from the environment
    return msal.ConfidentialClientApplication(
        integration.client_id,
        authority=integration.authority,
        client_credential=integration.client_secret.get_secret_value(),
        http_client=session,
        instance_discovery=False,  # the authority may be a simulator; never call login.microsoftonline.com
    )


class TokenProvider:
    """Cached app-only tokens; `refresh()` forces a new one (after a 401 from Graph)."""

    def __init__(
        self, integration: Integration, *, app_factory: Callable[[Integration], Any] = _msal_app
    ) -> None:
        self.integration = integration
        self._app_factory = app_factory
        self._app: Any = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        return await self._acquire(force=False)

    async def refresh(self) -> str:
        return await self._acquire(force=True)

    async def _acquire(self, *, force: bool) -> str:
        async with self._lock:
            if self._app is None:
                try:
                    self._app = await asyncio.to_thread(self._app_factory, self.integration)
                except Exception as exc:  # discovery failed: network, TLS, unknown tenant
                    raise AuthError(
                        self._safe(f"authority {self.integration.authority} unusable: {exc}")
                    ) from None
            try:
                result = await asyncio.to_thread(self._acquire_sync, force)
            except Exception as exc:  # the token endpoint unreachable (MSAL raises requests' errors)
                raise AuthError(
                    self._safe(f"token endpoint unreachable: {type(exc).__name__}: {exc}")
                ) from None
        if "access_token" not in result:
            # Entra ID's description starts with the AADSTS code; keep its first sentence only.
            description = str(result.get("error_description", "")).split(" Trace ID:")[0]
            raise AuthError(self._safe(f"token request failed: {result.get('error')}: {description}"))
        if force:
            log.info("graph.token_refreshed", integration_id=self.integration.integration_id)
        return str(result["access_token"])

    def _acquire_sync(self, force: bool) -> dict[str, Any]:
        if force:
            # acquire_token_for_client() answers from MSAL's cache while the token looks fresh, and
            # refuses force_refresh; dropping the cached app token makes the next call go to Entra ID.
            self._app.remove_tokens_for_client()
        return dict(self._app.acquire_token_for_client(scopes=[GRAPH_SCOPE]))

    def _safe(self, text: str) -> str:
        return redact(text, [self.integration.client_secret.get_secret_value()])
