"""Settings (env prefix `INTUNE_CONNECTOR_`) and the integrations file with each tenant's credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from connector_kit import ConnectorSettings, field_problems
from connector_kit.credentials import read_integrations_file

PUBLIC_AUTHORITY_HOST = "https://login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"


class Integration(BaseModel):
    """One connected Intune tenant (an app registration with DeviceManagementManagedDevices.Read.All)."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # the file may carry more (display names…)

    integration_id: str = Field(min_length=1)
    azure_tenant_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    authority_url: str = ""  # default: https://login.microsoftonline.com/<azure_tenant_id>
    graph_base_url: str = PUBLIC_GRAPH
    ca_bundle: Path | None = None  # trust only this CA (the simulators); None: the system store

    @field_validator("authority_url", "graph_base_url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def authority(self) -> str:
        return self.authority_url or f"{PUBLIC_AUTHORITY_HOST}/{self.azure_tenant_id}"


def parse_integrations(data: dict[str, Any]) -> dict[str, Integration]:
    """`{"<integration_id>": {"azure_tenant_id", "client_id", "client_secret", "authority_url",
    "graph_base_url", "ca_bundle"}}` -> Integration by id. Errors name the entry and the field."""
    out = {}
    for iid, cfg in data.items():
        if not isinstance(cfg, dict):
            raise ValueError(f"integration {iid!r}: expected an object")
        try:
            out[iid] = Integration.model_validate({**cfg, "integration_id": iid})
        except ValidationError as exc:
            raise ValueError(f"integration {iid!r}: {field_problems(exc)}") from None
    return out


def load_integrations(path: Path | None) -> dict[str, Integration]:
    """The integrations file; no file: no integrations."""
    return read_integrations_file(path, parse_integrations) if path is not None else {}


class Settings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="INTUNE_CONNECTOR_", extra="ignore")

    consumer_group: str = "intune-connector"
    page_size: int = Field(1000, ge=1, le=1000)  # Graph's maximum for managedDevices
