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
    # Issue 9: a statement that runs this long is given up and its batch retried on a fresh
    # connection. A PostgreSQL crash can leave an orphaned backend that never answers (seen once in
    # `make chaos`: an unlink batch waited 10 minutes); the longest real statement takes seconds.
    db_command_timeout_s: float = 120.0
