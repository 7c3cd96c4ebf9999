"""Configuration of the ledger API (STYLE §6): one settings class, env prefix `LEDGER_API_`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_API_", extra="ignore")

    # asyncpg DSN, e.g. postgresql://user:pw@host:5432/ledger or the unix-socket form
    # postgresql://postgres:@/ledger?host=/run/postgresql. A SQLAlchemy-style
    # "postgresql+asyncpg://" scheme is accepted too.
    database_url: SecretStr
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Prepended to every topic name and to the consumer group (isolates test runs on one broker).
    topic_prefix: str = ""
    # JSON file seeding tenants, API tokens, integrations and master links (demo and tests).
    bootstrap_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # HTTP worker processes (uvicorn `workers`), each with its own pool, projection consumer and
    # scheduler: the consumers share the group `<prefix>ledger-api` (each partition is projected by
    # one of them, offsets kept in PostgreSQL) and a due link is claimed with SKIP LOCKED, so both
    # are safe on every worker; command waits poll, so they see another worker's projection.
    workers: int = Field(default=1, ge=1, le=64)
    # How long POST/PATCH/DELETE wait for the reconciler's change to be projected before 202.
    command_wait_seconds: float = Field(default=5.0, ge=0, le=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_pool_min_size: int = Field(default=2, ge=1)
    db_pool_max_size: int = Field(default=20, ge=1)
    # Run the projection consumer in this process (turn off for a read-only replica of the HTTP side).
    projection_enabled: bool = True
    projection_max_records: int = Field(default=5000, ge=1)
    # Consumer-group session timeout. Brokers (Tansu among them) hold a first JoinGroup for up to
    # half of it, so tests use a short one to start in about a second.
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1_000)
    # Fernet key(s) for integration secrets, comma-separated: the first encrypts, each decrypts
    # (rotation). The connectors get the same value. None: integrations cannot carry credentials.
    secrets_key: SecretStr | None = None
    # R-X2: MDM URLs given by a tenant must be https and their hosts public (no loopback, private,
    # link-local or metadata address). True lets private hosts through (demo, tests, simulators, an
    # on-premises Jamf on the operator's LAN); https is required either way.
    allow_private_mdm_hosts: bool = False
    # R-M7: the daily sync scheduler (every replica may run it; a run is triggered once).
    scheduler_enabled: bool = True
    scheduler_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    # R-C2: a CSV import is one `ImportDevices` command (all or nothing). The file may be this big;
    # the producer's max_request_size is `max_message_bytes`, and the broker must accept records of
    # that size on ledger.commands.v1 (Kafka: the topic's max.message.bytes). 64 MiB holds about
    # 100,000 devices.
    import_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # R-X3: every other request body (JSON commands and settings) may be at most this big.
    request_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # The longest an import waits for the reconciler before 202 (then GET its status): it waits
    # command_wait_seconds plus a second per 2,000 rows, at most this.
    import_wait_seconds: float = Field(default=60.0, ge=0, le=600)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def database_dsn(self) -> str:
        """The DSN as asyncpg wants it (plain postgresql:// scheme)."""
        dsn = self.database_url.get_secret_value()
        scheme, sep, rest = dsn.partition("://")
        if sep and "+" in scheme:
            scheme = scheme.split("+", 1)[0]
        if scheme == "postgres":
            scheme = "postgresql"
        return f"{scheme}{sep}{rest}"

    @property
    def consumer_group(self) -> str:
        return f"{self.topic_prefix}ledger-api"
