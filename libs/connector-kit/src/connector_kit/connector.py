"""What a connector is, apart from its MDM: the handling of one sync request.

A connector subclasses `Connector` and supplies only the vendor parts: which `mdm_kind` it serves,
how an integrations-file entry is parsed, which strings of an integration are secrets, and `pull`
— auth, client, paging and translation, calling `run.observe(...)` / `run.skip(...)` per record
and returning the MDM's reported total. The kit resolves the credentials, runs the sync-run
skeleton (run.py) and is driven by the FastStream subscriber (subscriber.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

import structlog

from ledger_contracts import SyncRequested

from .credentials import CredentialsError, IntegrationsFile, open_credentials
from .run import Publisher, PullResult, SyncRun, refuse, safe_error
from .settings import ConnectorSettings

I = TypeVar("I")  # noqa: E741  (the connector's Integration type)
S = TypeVar("S", bound=ConnectorSettings)

log = structlog.get_logger(__name__)


class Connector(ABC, Generic[I, S]):
    mdm_kind: ClassVar[str]  # "intune" | "jamf_pro": requests of other kinds are not ours
    name: ClassVar[str]  # consumer/client name and log prefix, e.g. "jamf"
    trusted_errors: ClassVar[tuple[type[BaseException], ...]] = ()  # messages already safe to publish

    def __init__(
        self, settings: S, *, integrations: Mapping[str, I] | None = None, publisher: Publisher | None = None
    ) -> None:
        self.settings = settings
        self.integrations_file = IntegrationsFile(
            settings.integrations_file, self.parse_integrations, integrations
        )
        self.publisher = publisher

    # --- the vendor's part -----------------------------------------------------------------------

    @abstractmethod
    def parse_integrations(self, data: dict[str, Any]) -> dict[str, I]: ...

    @abstractmethod
    def secrets_of(self, integration: I) -> list[str]: ...

    @abstractmethod
    async def pull(self, integration: I, run: SyncRun) -> int | None:
        """Every device of `integration` through `run.observe`/`run.skip`; returns the reported total."""

    def integration_id_of(self, integration: I) -> str:
        return str(getattr(integration, "integration_id"))  # noqa: B009  (a protocol-free convention)

    # --- the kit's part --------------------------------------------------------------------------

    @property
    def integrations(self) -> dict[str, I]:
        return self.integrations_file.known

    def integration(self, integration_id: str) -> I | None:
        return self.integrations_file.get(integration_id)

    def _publisher(self) -> Publisher:
        if self.publisher is None:
            raise RuntimeError("no publisher: start the subscriber (or pass one) first")
        return self.publisher

    async def handle(self, request: SyncRequested) -> PullResult | None:
        """One sync request: None when it is another MDM's, else what happened to the run."""
        link = request.master_link
        if link.mdm_kind != self.mdm_kind:
            return None  # another connector's request: same topic, its own consumer group
        if request.credentials is not None:
            try:
                integration = open_credentials(
                    request.credentials,
                    link.integration_id,
                    self.settings.secrets_key,
                    self.settings.secrets_key_setting,
                    self.parse_integrations,
                )
            except CredentialsError as exc:
                return await self._refuse(request, f"{self.name}.credentials_unusable", str(exc))
        else:
            found = self.integration(link.integration_id)
            if found is None:
                error = (
                    f"unknown {self.display_name} integration '{link.integration_id}' "
                    "(not in the integrations file)"
                )
                return await self._refuse(request, f"{self.name}.unknown_integration", error)
            integration = found
        return await self.run(integration, request)

    display_name: ClassVar[str] = "MDM"

    async def run(self, integration: I, request: SyncRequested) -> PullResult:
        """One attempt of the run of `request` against `integration` (a fresh attempt id each time)."""
        iid = self.integration_id_of(integration)
        run = SyncRun(request, iid, self._publisher(), name=self.name)
        ids = {"tenant_id": request.tenant_id, "sync_run_id": str(request.sync_run_id), "integration_id": iid}
        secrets = self.secrets_of(integration)
        with structlog.contextvars.bound_contextvars(**ids):
            return await run.execute(
                lambda r: self.pull(integration, r),
                lambda exc: safe_error(exc, secrets, trusted=self.trusted_errors),
            )

    async def _refuse(self, request: SyncRequested, event: str, error: str) -> PullResult:
        link = request.master_link
        log.error(
            event, integration_id=link.integration_id, sync_run_id=str(request.sync_run_id), error=error
        )
        return await refuse(request, link.integration_id, self._publisher(), error)
