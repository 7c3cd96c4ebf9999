from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The reconciler's settings (env prefix RECONCILER_)."""

    model_config = SettingsConfigDict(env_prefix="RECONCILER_")

    database_url: str
    kafka_bootstrap_servers: str
    topic_prefix: str = ""
    group_id: str = "reconciler"
    max_batch: int = 5000
    # A consumer-group join waits about half the session timeout on the embedded broker (Tansu):
    # the demo and tests use a short one; production keeps Kafka's usual 10 s.
    kafka_session_timeout_ms: int = 10_000
    log_level: str = "info"
