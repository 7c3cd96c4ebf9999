"""A minimal connector for the kit's tests: its 'MDM' is a list of raw records given per test."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, SecretStr
from pydantic_settings import SettingsConfigDict

from connector_kit import Connector, ConnectorSettings, SyncRun
from ledger_contracts import MasterLinkSettings, ObservedDevice, SyncRequested


class FakeIntegration(BaseModel):
    integration_id: str
    token: SecretStr


class FakeSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="FAKE_", extra="ignore")


@dataclass
class Script:
    """What the fake MDM does during a pull."""

    devices: list[str] = field(default_factory=list)
    error: Exception | None = None  # raised after the devices
    block: asyncio.Event | None = None  # the pull waits on it after the devices (a long pull)
    entered: asyncio.Event = field(default_factory=asyncio.Event)


class FakeConnector(Connector[FakeIntegration, FakeSettings]):
    mdm_kind: ClassVar[str] = "intune"
    name: ClassVar[str] = "fake"
    display_name: ClassVar[str] = "Fake"

    def __init__(self, settings: FakeSettings, script: Script, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.script = script
        self.pulls = 0

    def parse_integrations(self, data: dict[str, Any]) -> dict[str, FakeIntegration]:
        return {k: FakeIntegration.model_validate({**v, "integration_id": k}) for k, v in data.items()}

    def secrets_of(self, integration: FakeIntegration) -> list[str]:
        return [integration.token.get_secret_value()]

    async def pull(self, integration: FakeIntegration, run: SyncRun) -> int | None:
        self.pulls += 1
        for dev in self.script.devices:
            await run.observe(ObservedDevice(mdm_device_id=dev))
        self.script.entered.set()
        if self.script.block is not None:
            await self.script.block.wait()
        if self.script.error is not None:
            raise self.script.error
        return len(self.script.devices)


def request(integration_id: str = "fake-1", kind: str = "intune", tenant: str = "tenant-k") -> SyncRequested:
    return SyncRequested(
        tenant_id=tenant,
        sync_run_id=uuid.uuid4(),
        master_link=MasterLinkSettings(master_link_id="ml", integration_id=integration_id, mdm_kind=kind),
    )


def integrations() -> dict[str, FakeIntegration]:
    return {"fake-1": FakeIntegration(integration_id="fake-1", token=SecretStr("tok-Secret-99"))}
