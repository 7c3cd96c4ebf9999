"""R-A4: what an audit entry may hold. Pure: secrets are removed before anything is stored."""

from __future__ import annotations

from typing import Any

# Keys whose values are secrets wherever they appear (integration credentials, tokens).
SECRET_KEYS = frozenset(
    {"client_secret", "password", "secret", "token", "api_token", "credentials", "private_key", "ciphertext"}
)
REDACTED = "***"


def redact(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced by `***`, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if k.lower() in SECRET_KEYS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
