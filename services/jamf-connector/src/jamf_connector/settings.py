"""Settings (env prefix `JAMF_CONNECTOR_`) and the Jamf Pro integrations this connector may pull.

The integrations file is JSON keyed by integration id:

    {
      "jamf-tokyo": {"base_url": "https://tokyo.jamfcloud.com", "client_id": "…", "client_secret": "…"},
      "jamf-lab":   {"base_url": "https://jamf.lab:8443", "username": "…", "password": "…",
                     "ca_bundle": "/etc/ssl/lab-ca.pem"}
    }

An entry with client_id/client_secret uses an OAuth API client; one with username/password the
older user bearer token. Secrets are `SecretStr` so they never show up in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter
from pydantic_settings import SettingsConfigDict

from connector_kit import ConnectorSettings
from connector_kit.credentials import read_integrations_file

COMPUTER_API_VERSIONS = ("v4", "v3", "v2", "v1")  # newest first; 404 means "try the next one"


class _Integration(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    integration_id: str = Field(min_length=1)
    base_url: str = Field(min_length=1)
    ca_bundle: Path | None = None  # PEM of the CA to trust (self-hosted servers, the simulator)


class OAuthIntegration(_Integration):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr


class BasicIntegration(_Integration):
    username: str = Field(min_length=1)
    password: SecretStr


Integration = OAuthIntegration | BasicIntegration
_integration: TypeAdapter[Integration] = TypeAdapter(Integration)


def parse_integrations(data: dict[str, Any]) -> dict[str, Integration]:
    out = {}
    for integration_id, entry in data.items():
        if not isinstance(entry, dict):
            raise ValueError(f"integration {integration_id!r}: expected an object")
        out[integration_id] = _integration.validate_python({**entry, "integration_id": integration_id})
    return out


def load_integrations(path: Path | None) -> dict[str, Integration]:
    if path is None:
        return {}
    return read_integrations_file(path, parse_integrations)


class Settings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="JAMF_CONNECTOR_", extra="ignore")

    consumer_group: str = "jamf-connector"
    page_size: int = Field(2000, ge=1)  # Jamf's maximum; a server clamping lower is handled
    max_concurrency: int = Field(5, ge=1)  # Jamf: "no more than 5 concurrent connections"
    retry_base_delay_s: float = Field(0.5, ge=0)  # exponential backoff base when no Retry-After
