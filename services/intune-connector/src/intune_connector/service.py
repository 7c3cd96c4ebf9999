"""The Intune connector: its vendor part of a sync run (R-E1, SPEC §9).

The connector kit (libs/connector-kit) subscribes the sync requests, opens credentials, runs the
sync-run skeleton and acks. This module supplies what is Intune's: the integration format, MSAL
tokens (auth.py), Graph paging with the next page downloading while this one is translated
(graph.py), and the translation of every managedDevice (translate.py). A record without a usable
id is skipped and counted; a malformed optional field is emptied with a warning (R-M14).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import httpx

from connector_kit import Connector, Publisher, SyncRun
from connector_kit.subscriber import SyncRequestSubscriber, serve_main

from .auth import AuthError, TokenProvider, TokenSource
from .graph import GraphError, ManagedDevices, http_client_for, prefetch
from .settings import Integration, Settings, parse_integrations
from .translate import MalformedDevice, translate_device

CONSUMER_NAME = "intune-connector"


class IntuneConnector(Connector[Integration, Settings]):
    mdm_kind: ClassVar[str] = "intune"
    name: ClassVar[str] = "intune"
    display_name: ClassVar[str] = "Intune"
    trusted_errors: ClassVar[tuple[type[BaseException], ...]] = (GraphError, AuthError)

    def __init__(
        self,
        settings: Settings,
        *,
        integrations: Mapping[str, Integration] | None = None,
        publisher: Publisher | None = None,
        token_provider_factory: Callable[[Integration], TokenSource] = TokenProvider,
        http_client_factory: Callable[[Integration, Settings], httpx.AsyncClient] = http_client_for,
    ) -> None:
        super().__init__(settings, integrations=integrations, publisher=publisher)
        self._token_provider_factory = token_provider_factory
        self._http_client_factory = http_client_factory
        self._token_providers: dict[str, TokenSource] = {}
        self.policy = settings.retry_policy()

    def parse_integrations(self, data: dict[str, Any]) -> dict[str, Integration]:
        return parse_integrations(data)

    def secrets_of(self, integration: Integration) -> list[str]:
        return [integration.client_secret.get_secret_value()]

    def tokens_for(self, integration: Integration) -> TokenSource:
        """One MSAL client per integration, kept between runs (its token cache), renewed on change."""
        provider = self._token_providers.get(integration.integration_id)
        if provider is None or getattr(provider, "integration", integration) != integration:
            provider = self._token_provider_factory(integration)
            self._token_providers[integration.integration_id] = provider
        return provider

    async def pull(self, integration: Integration, run: SyncRun) -> int | None:
        async with self._http_client_factory(integration, self.settings) as http:
            listing = ManagedDevices(
                integration.graph_base_url,
                self.tokens_for(integration),
                http,
                policy=self.policy,
                page_size=self.settings.page_size,
            )
            async for page in prefetch(listing.pages()):
                for raw in page.devices:
                    try:
                        device, warnings = translate_device(raw)
                    except MalformedDevice as exc:
                        run.skip(exc.device_id, exc.field, exc.problem)
                        continue
                    await run.observe(device, warnings)
            return listing.stats.reported_total


def build_app(
    settings: Settings,
    *,
    integrations: Mapping[str, Integration] | None = None,
    publisher: Publisher | None = None,
    token_provider_factory: Callable[[Integration], TokenSource] | None = None,
    http_client_factory: Callable[[Integration, Settings], httpx.AsyncClient] | None = None,
) -> IntuneConnector:
    """The composition root: tests and the benchmark pass fakes or pre-built parts; nothing starts here."""
    return IntuneConnector(
        settings,
        integrations=integrations,
        publisher=publisher,
        token_provider_factory=token_provider_factory or TokenProvider,
        http_client_factory=http_client_factory or http_client_for,
    )


def build_subscriber(settings: Settings, connector: IntuneConnector | None = None) -> SyncRequestSubscriber:
    """The connector on the broker (FastStream): what `intune-connector` runs."""
    return SyncRequestSubscriber(connector or build_app(settings), settings, client_name=CONSUMER_NAME)


def main() -> None:
    """`intune-connector` (and `python -m intune_connector`): subscribe until SIGTERM/SIGINT."""
    serve_main(Settings, build_subscriber)
