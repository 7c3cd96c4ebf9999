"""Integration secrets at rest and in transit: Fernet under a key ring from settings.

`LEDGER_API_SECRETS_KEY` holds one Fernet key, or several separated by commas: the first encrypts,
every one decrypts. Rotation: put the new key first (on the API and the connectors), restart; the
API re-encrypts what it stores at start-up; then drop the old key. A key is named by its
fingerprint (`key_id`), never by its value, so errors and rows can say which key is needed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsKeyError(ValueError):
    """A key that is not a Fernet key, or a ciphertext no key of the ring opens (no secret inside)."""


def fingerprint(key: bytes) -> str:
    return hashlib.sha256(b"ledger-secrets-key:" + key).hexdigest()[:12]


class KeyRing:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretsKeyError("no secrets key given")
        fernets = []
        for n, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # Fernet's message is generic; never echo the value.
                raise SecretsKeyError(
                    f"secrets key #{n} is not a Fernet key (32 random bytes in url-safe base64, "
                    "e.g. from cryptography.fernet.Fernet.generate_key())"
                ) from None
        self._ring = MultiFernet(fernets)
        self.key_id = fingerprint(keys[0])
        self.key_ids = tuple(fingerprint(k) for k in keys)

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        return cls([part.strip().encode() for part in text.split(",") if part.strip()])

    def encrypt_json(self, value: dict[str, Any]) -> str:
        return self._ring.encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()

    def decrypt_json(self, token: str) -> dict[str, Any]:
        try:
            value = json.loads(self._ring.decrypt(token.encode()))
        except (InvalidToken, ValueError, TypeError):
            raise SecretsKeyError(
                f"the ciphertext opens under none of the keys {list(self.key_ids)}"
            ) from None
        if not isinstance(value, dict):
            raise SecretsKeyError("the decrypted credentials are not a JSON object")
        return value

    def rotate(self, token: str) -> str:
        """The same plaintext under the first key, with a fresh timestamp."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except (InvalidToken, ValueError, TypeError):
            raise SecretsKeyError(
                f"the ciphertext opens under none of the keys {list(self.key_ids)}"
            ) from None

    def __repr__(self) -> str:
        return f"KeyRing(key_ids={list(self.key_ids)})"
