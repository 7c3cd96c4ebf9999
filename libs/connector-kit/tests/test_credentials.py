"""Credentials: Fernet-sealed entries from the request, the integrations file as the fallback, and
the guard against a half-written file (one rule for every connector, issue 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connector_kit import CredentialsError, IntegrationsFile, open_credentials, open_sealed
from connector_kit.credentials import seal as kit_seal
from ledger_contracts import EncryptedCredentials

from .conftest import FakeIntegration

KEY, OTHER = Fernet.generate_key(), Fernet.generate_key()


def parse(data: dict[str, Any]) -> dict[str, FakeIntegration]:
    return {k: FakeIntegration.model_validate({**v, "integration_id": k}) for k, v in data.items()}


def seal(entry: Any, key: bytes = KEY) -> EncryptedCredentials:
    return kit_seal(entry, key.decode(), "k1")


@pytest.mark.unit
def test_a_sealed_entry_opens_with_any_key_of_the_ring() -> None:
    keys = SecretStr(f"{OTHER.decode()}, {KEY.decode()}")
    got = open_credentials(seal({"token": "t-1"}), "i1", keys, "X_SECRETS_KEY", parse)
    assert (got.integration_id, got.token.get_secret_value()) == ("i1", "t-1")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("keys", "sealed", "expected"),
    [
        (None, seal({"token": "t"}), "X_SECRETS_KEY is not set"),
        (SecretStr("short"), seal({"token": "t"}), "X_SECRETS_KEY is not a Fernet key"),
        (
            SecretStr(OTHER.decode()),
            seal({"token": "t"}),
            "cannot decrypt the credentials of integration 'i1'",
        ),
        (SecretStr(KEY.decode()), seal(["a", "list"]), "are not a JSON object"),
    ],
)
def test_unusable_sealed_credentials_say_why_without_a_secret(
    keys: SecretStr | None, sealed: EncryptedCredentials, expected: str
) -> None:
    with pytest.raises(CredentialsError, match=expected) as info:
        open_sealed(sealed, "i1", keys, "X_SECRETS_KEY")
    assert KEY.decode() not in str(info.value) and sealed.ciphertext not in str(info.value)


@pytest.mark.unit
def test_a_bad_entry_names_the_field_not_the_value() -> None:
    with pytest.raises(CredentialsError, match="token: Input should be a valid string") as info:
        open_credentials(seal({"token": ["Sup3r-Secret"]}), "i1", SecretStr(KEY.decode()), "X", parse)
    assert "Sup3r-Secret" not in str(info.value)


@pytest.mark.integration  # files under tmp_path
def test_an_integration_added_to_the_file_later_is_found(tmp_path: Path) -> None:
    path = tmp_path / "integrations.json"
    path.write_text(json.dumps({"a": {"token": "ta"}}))
    file = IntegrationsFile(path, parse)
    assert file.get("b") is None
    path.write_text(json.dumps({"a": {"token": "ta"}, "b": {"token": "tb"}}))
    found = file.get("b")
    assert found is not None and found.token.get_secret_value() == "tb"


@pytest.mark.integration  # files under tmp_path
@pytest.mark.parametrize(
    "half_written",
    ['{"a": {"token": "ta"}, "b": {"tok', "", "[]", '{"a": {"token": ["not text"]}}'],
    ids=["truncated", "empty", "not-an-object", "invalid-entry"],
)
def test_a_half_written_or_broken_file_keeps_what_was_read_before(tmp_path: Path, half_written: str) -> None:
    """The guard Intune had and Jamf lacked, now the kit's for both: a rewrite caught half way
    (or a broken edit) never takes working integrations away, and is retried on the next miss."""
    path = tmp_path / "integrations.json"
    path.write_text(json.dumps({"a": {"token": "ta"}}))
    file = IntegrationsFile(path, parse)
    path.write_text(half_written)
    assert file.get("b") is None  # unknown, and the file unreadable: logged, not raised
    assert file.get("a") is not None  # still known
    path.write_text(json.dumps({"a": {"token": "ta"}, "b": {"token": "tb"}}))
    assert file.get("b") is not None


@pytest.mark.integration  # files under tmp_path
def test_a_broken_file_at_start_names_the_file_and_field_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "integrations.json"
    path.write_text(json.dumps({"a": {"token": 123456789}}))
    with pytest.raises(ValueError, match=r"integrations\.json: integration 'a': token") as info:
        IntegrationsFile(path, parse)
    assert "123456789" not in str(info.value)
