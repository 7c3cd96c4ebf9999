"""Settings every connector has. Each connector subclasses this with its own env prefix
(`INTUNE_CONNECTOR_`, `JAMF_CONNECTOR_`) and its vendor settings; the names stay the same."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .retry import RetryPolicy


class ConnectorSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    consumer_group: str = "connector"
    integrations_file: Path | None = None
    # Fernet key(s) shared with the ledger API (comma-separated for rotation): opens the credentials
    # a sync request carries. Without credentials in the request, the integrations file is used.
    secrets_key: SecretStr | None = None

    max_attempts: int = Field(6, ge=1)  # per request, for 429 / 5xx / connection errors
    retry_base_delay_s: float = Field(1.0, ge=0)  # exponential backoff base when no Retry-After
    retry_max_delay_s: float = Field(60.0, ge=0)  # cap of one backoff delay
    max_retry_after_s: float = Field(300.0, ge=0)  # cap of a server-sent Retry-After
    request_timeout_s: float = Field(60.0, gt=0)

    # A 100k-device pull takes longer than Kafka's default 5 min poll interval; the consumer must stay.
    max_poll_interval_ms: int = 3_600_000
    kafka_session_timeout_ms: int = 10_000  # aiokafka's default; the demo shortens it for fast rebalances

    log_level: str = "INFO"

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts, self.retry_base_delay_s, self.retry_max_delay_s, self.max_retry_after_s
        )

    @property
    def secrets_key_setting(self) -> str:
        """The env name of `secrets_key` (e.g. `JAMF_CONNECTOR_SECRETS_KEY`), for error messages."""
        return f"{self.model_config.get('env_prefix', '')}SECRETS_KEY".upper()
