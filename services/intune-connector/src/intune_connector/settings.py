"""Settings (env prefix `INTUNE_CONNECTOR_`) and the integrations file with each tenant's credentials."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


def load_integrations(path: Path | None) -> dict[str, Integration]:
    """`{"<integration_id>": {"azure_tenant_id", "client_id", "client_secret", "authority_url",
    "graph_base_url", "ca_bundle"}}` -> Integration by id. No file: no integrations."""
    if path is None:
        return {}
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of integration id -> settings")
    out = {}
    for iid, cfg in data.items():
        try:
            out[iid] = Integration.model_validate({**cfg, "integration_id": iid})
        except ValidationError as exc:
            # pydantic's message quotes the input, i.e. the secret: name the fields only.
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{path}: integration {iid!r}: {problems}") from None
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTUNE_CONNECTOR_", extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    consumer_group: str = "intune-connector"
    integrations_file: Path | None = None
    # Fernet key(s) shared with the ledger API (comma-separated for rotation): opens the credentials
    # a sync request carries. Without credentials in the request, the integrations file is used.
    secrets_key: SecretStr | None = None

    page_size: int = Field(1000, ge=1, le=1000)  # Graph's maximum for managedDevices
    max_attempts: int = Field(6, ge=1)  # per page, for 429/5xx/connection errors
    retry_base_delay_s: float = Field(1.0, ge=0)  # exponential backoff base when no Retry-After
    retry_max_delay_s: float = Field(60.0, ge=0)  # cap of one backoff delay
    max_retry_after_s: float = Field(300.0, ge=0)  # cap of a server-sent Retry-After
    request_timeout_s: float = Field(60.0, gt=0)
    # A 100k-device pull takes longer than Kafka's default 5 min poll interval; the consumer must stay.
    max_poll_interval_ms: int = 3_600_000
    kafka_session_timeout_ms: int = 10_000  # aiokafka's default; the demo shortens it for fast rebalances

    log_level: str = "INFO"
