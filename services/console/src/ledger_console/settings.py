"""The console's settings (env prefix `LEDGER_CONSOLE_`)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_CONSOLE_")

    api_url: str = "http://127.0.0.1:8000"  # the ledger API (its public HTTP API only)
    host: str = "127.0.0.1"
    port: int = 8080
    # None: the cookie is Secure when the request came over TLS (also behind a proxy that sets
    # X-Forwarded-Proto, with uvicorn's --proxy-headers); true/false force it.
    cookie_secure: bool | None = None
    session_idle_seconds: int = 8 * 3600
    api_timeout_seconds: float = 120.0  # a large CSV import is answered after the reconciler applies it
    import_max_bytes: int = 64 * 1024 * 1024
    log_level: str = "INFO"
