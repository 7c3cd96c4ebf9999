"""Where a connector gets an integration's credentials.

1. From the sync request: sealed by the ledger API with Fernet (`EncryptedCredentials`), opened
   here with the key(s) in `<PREFIX>SECRETS_KEY` (comma-separated for rotation). The plaintext is
   one entry of the integrations file, so both carry one format; the request wins.
2. Else from the integrations file, re-read when an unknown integration is asked for (they are
   added while the connector runs, R-S3). A file caught mid-rewrite or broken keeps what was read
   before, so one bad write never takes working integrations away.

Every error names the integration, the key setting and the field, never a secret: pydantic's own
messages quote the input, so only field names and messages are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError

from ledger_contracts import EncryptedCredentials

I = TypeVar("I")  # noqa: E741  (the connector's Integration type)
Parse = Callable[[dict[str, Any]], dict[str, I]]

log = structlog.get_logger(__name__)


class CredentialsError(ValueError):
    """The credentials of a request cannot be used; the message is safe to publish and log."""


def field_problems(exc: ValidationError) -> str:
    """`loc: msg; …` of a validation error, without the input values (they may be secrets)."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def open_sealed(
    sealed: EncryptedCredentials, integration_id: str, keys: SecretStr | None, key_setting: str
) -> dict[str, Any]:
    """The JSON object sealed in `sealed`, or `CredentialsError` saying why not."""
    if keys is None:
        raise CredentialsError(
            f"the sync request for integration '{integration_id}' carries encrypted credentials "
            f"but {key_setting} is not set"
        )
    try:
        ring = MultiFernet([Fernet(k.strip()) for k in keys.get_secret_value().split(",") if k.strip()])
    except (ValueError, TypeError):
        raise CredentialsError(
            f"{key_setting} is not a Fernet key (or a comma-separated list of them)"
        ) from None
    try:
        entry = json.loads(ring.decrypt(sealed.ciphertext.encode()))
    except (InvalidToken, ValueError, TypeError):
        raise CredentialsError(
            f"cannot decrypt the credentials of integration '{integration_id}' (sealed under key "
            f"'{sealed.key_id}'): {key_setting} is not the ledger API's secrets key, or the ciphertext "
            "is damaged"
        ) from None
    if not isinstance(entry, dict):
        raise CredentialsError(f"the credentials of integration '{integration_id}' are not a JSON object")
    return entry


def seal(entry: Any, key: str, key_id: str = "default") -> EncryptedCredentials:
    """The inverse of `open_sealed` (what the ledger API does): for operators' tools and tests."""
    return EncryptedCredentials(
        key_id=key_id, ciphertext=Fernet(key.encode()).encrypt(json.dumps(entry).encode()).decode()
    )


def open_credentials(
    sealed: EncryptedCredentials,
    integration_id: str,
    keys: SecretStr | None,
    key_setting: str,
    parse: Parse[I],
) -> I:
    """The integration sealed in a request, validated by the connector's `parse`."""
    entry = open_sealed(sealed, integration_id, keys, key_setting)
    try:
        return parse({integration_id: entry})[integration_id]
    except ValidationError as exc:
        raise CredentialsError(
            f"the credentials of integration '{integration_id}': {field_problems(exc)}"
        ) from None
    except ValueError as exc:  # the parser's own message names the field, never the value
        raise CredentialsError(f"the credentials of integration '{integration_id}': {exc}") from None


def read_integrations_file(path: Path, parse: Parse[I]) -> dict[str, I]:
    """`{"<integration_id>": {…}}` -> integration by id; errors name the file, entry and field."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of integration id -> settings")
    out: dict[str, I] = {}
    for integration_id, entry in data.items():  # one by one, so an error names its entry
        try:
            out.update(parse({integration_id: entry}))
        except ValidationError as exc:
            raise ValueError(f"{path}: integration {integration_id!r}: {field_problems(exc)}") from None
        except ValueError as exc:  # the parser's own message names the entry and field
            raise ValueError(f"{path}: {exc}") from None
    return out


class IntegrationsFile(Generic[I]):
    """The integrations a connector may pull when a request carries no credentials."""

    def __init__(self, path: Path | None, parse: Parse[I], known: Mapping[str, I] | None = None) -> None:
        self.path = path
        self._parse = parse
        if known is not None:
            self._known = dict(known)
        else:
            self._known = read_integrations_file(path, parse) if path is not None else {}

    @property
    def known(self) -> dict[str, I]:
        return dict(self._known)

    def get(self, integration_id: str) -> I | None:
        if integration_id not in self._known and self.path is not None:
            try:
                self._known = read_integrations_file(self.path, self._parse)
            except (OSError, ValueError) as exc:  # mid-rewrite or broken: keep what we had
                log.error("connector.integrations_unreadable", error=f"{type(exc).__name__}: {exc}"[:300])
        return self._known.get(integration_id)
