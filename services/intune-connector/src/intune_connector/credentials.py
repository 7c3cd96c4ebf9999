"""Credentials that arrive with a sync request, sealed by the ledger API (Fernet), and opened here.

The plaintext is one entry of the integrations file (settings.load_integrations), so the file and
the request carry one format; the request wins when both have the integration. Every error names
the integration and the key, never a secret.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError

from ledger_contracts import EncryptedCredentials

from .settings import Integration

KEY_SETTING = "INTUNE_CONNECTOR_SECRETS_KEY"


class CredentialsError(ValueError):
    """The credentials of a request cannot be used; the message is safe to publish and log."""


def open_credentials(
    sealed: EncryptedCredentials, integration_id: str, keys: SecretStr | None
) -> Integration:
    if keys is None:
        raise CredentialsError(
            f"the sync request for integration '{integration_id}' carries encrypted credentials "
            f"but {KEY_SETTING} is not set"
        )
    try:
        ring = MultiFernet([Fernet(k.strip()) for k in keys.get_secret_value().split(",") if k.strip()])
    except (ValueError, TypeError):
        raise CredentialsError(
            f"{KEY_SETTING} is not a Fernet key (or a comma-separated list of them)"
        ) from None
    try:
        entry = json.loads(ring.decrypt(sealed.ciphertext.encode()))
    except (InvalidToken, ValueError, TypeError):
        raise CredentialsError(
            f"cannot decrypt the credentials of integration '{integration_id}' (sealed under key "
            f"'{sealed.key_id}'): {KEY_SETTING} is not the ledger API's secrets key, or the ciphertext "
            "is damaged"
        ) from None
    if not isinstance(entry, dict):
        raise CredentialsError(f"the credentials of integration '{integration_id}' are not a JSON object")
    try:
        return Integration.model_validate({**entry, "integration_id": integration_id})
    except ValidationError as exc:
        # pydantic's message quotes the input, i.e. the secret: name the fields only.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CredentialsError(f"the credentials of integration '{integration_id}': {problems}") from None
