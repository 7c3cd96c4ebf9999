"""The Jamf Pro connector: its vendor part of a sync run (R-E1, R-J2, SPEC §9).

The connector kit (libs/connector-kit) subscribes the sync requests, opens credentials, runs the
sync-run skeleton and acks. This module supplies what is Jamf's: the integration format, the
client (auth, paging, retries — client.py, auth.py), and the translation of every computer and
mobile device (translate.py), each published as a `DeviceObserved` as pages arrive. A record
without a usable id is skipped and counted; a malformed optional field is emptied with a warning
(R-M14). The computers API version that answered is remembered per integration.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

from connector_kit import Connector, Publisher, SyncRun
from connector_kit.subscriber import SyncRequestSubscriber, serve_main

from .client import JamfClient, open_client
from .settings import Integration, OAuthIntegration, Settings, parse_integrations
from .translate import MalformedDevice, translate

CONSUMER_NAME = "jamf-connector"


class JamfConnector(Connector[Integration, Settings]):
    mdm_kind: ClassVar[str] = "jamf_pro"
    name: ClassVar[str] = "jamf"
    display_name: ClassVar[str] = "Jamf Pro"

    def __init__(
        self,
        settings: Settings,
        *,
        integrations: Mapping[str, Integration] | None = None,
        publisher: Publisher | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(settings, integrations=integrations, publisher=publisher)
        self._client_options = client_options or {}
        self._computer_versions: dict[str, str] = {}  # integration id -> API version that answered

    def parse_integrations(self, data: dict[str, Any]) -> dict[str, Integration]:
        return parse_integrations(data)

    def secrets_of(self, integration: Integration) -> list[str]:
        secret = (
            integration.client_secret if isinstance(integration, OAuthIntegration) else integration.password
        )
        return [secret.get_secret_value()]

    async def pull(self, integration: Integration, run: SyncRun) -> int | None:
        iid = integration.integration_id
        async with self._client(integration) as client:
            async for page in client.inventory():
                for raw in page.records:
                    try:
                        device, warnings = translate(page.kind, raw)
                    except MalformedDevice as exc:
                        run.skip(exc.record_id and f"{exc.kind}:{exc.record_id}", exc.field, exc.reason)
                        continue
                    await run.observe(device, warnings)
            if client.computer_version:
                self._computer_versions[iid] = client.computer_version
            return client.reported_total

    def _client(self, integration: Integration) -> AbstractAsyncContextManager[JamfClient]:
        s = self.settings
        options: dict[str, Any] = {
            "page_size": s.page_size,
            "max_concurrency": s.max_concurrency,
            "policy": s.retry_policy(),
            "computer_version": self._computer_versions.get(integration.integration_id),
            **self._client_options,
        }
        return open_client(integration, timeout_s=s.request_timeout_s, **options)


def build_app(
    settings: Settings,
    *,
    integrations: Mapping[str, Integration] | None = None,
    publisher: Publisher | None = None,
    client_options: dict[str, Any] | None = None,
) -> JamfConnector:
    """The composition root: tests and the benchmark pass fakes or pre-built parts; nothing starts here."""
    return JamfConnector(
        settings, integrations=integrations, publisher=publisher, client_options=client_options
    )


def build_subscriber(settings: Settings, connector: JamfConnector | None = None) -> SyncRequestSubscriber:
    """The connector on the broker (FastStream): what `jamf-connector` runs."""
    return SyncRequestSubscriber(connector or build_app(settings), settings, client_name=CONSUMER_NAME)


def main() -> None:
    """`jamf-connector` (and `python -m jamf_connector`): subscribe until SIGTERM/SIGINT."""
    serve_main(Settings, build_subscriber)
