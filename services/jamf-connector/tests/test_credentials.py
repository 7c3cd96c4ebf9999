"""Credentials carried by the sync request (sealed by the ledger API) against the real Jamf simulator;
the integrations file is only the fallback. Failures end the run with a reason that holds no secret."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connector_kit import ListPublisher, open_credentials
from connector_kit.credentials import seal as kit_seal
from jamf_connector.service import build_app
from jamf_connector.settings import BasicIntegration, OAuthIntegration, Settings, parse_integrations
from ledger_contracts import EncryptedCredentials, MasterLinkSettings, SyncRequested
from mdm_sim.jamf import JamfSim, generate_computers, generate_mobiles

pytestmark = pytest.mark.integration  # the simulator in-process over loopback TLS; no broker

KEY = Fernet.generate_key()
KEY_SETTING = "JAMF_CONNECTOR_SECRETS_KEY"
OTHER_KEY = Fernet.generate_key()


def seal(entry: Any, key: bytes = KEY) -> EncryptedCredentials:
    return kit_seal(entry, key.decode(), "k1")


def request(credentials: EncryptedCredentials | None, integration_id: str = "jamf-9") -> SyncRequested:
    link = MasterLinkSettings(master_link_id="ml-9", integration_id=integration_id, mdm_kind="jamf_pro")
    return SyncRequested(
        tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=link, credentials=credentials
    )


def connector(publisher: ListPublisher, **settings: Any) -> Any:
    fast = {"retry_base_delay_s": 0.001, "retry_max_delay_s": 0.01, "max_attempts": 2}
    return build_app(Settings(**fast, **settings), publisher=publisher)


@pytest.mark.parametrize("flavour", ["oauth", "basic"])
async def test_a_request_with_credentials_pulls_without_any_integrations_file(
    serve_jamf: Any, flavour: str
) -> None:
    srv = serve_jamf(JamfSim(generate_computers(4, seed=2), generate_mobiles(3, seed=2)))
    publisher = ListPublisher()
    app = connector(publisher, secrets_key=SecretStr(KEY.decode()))
    result = await app.handle(request(seal(srv.integration(flavour))))
    assert result is not None and (result.status, result.devices_observed) == ("completed", 7)
    assert publisher.events[-1].integration_id == "jamf-9"  # type: ignore[attr-defined]


async def test_the_request_wins_over_the_file_and_the_file_is_the_fallback(
    serve_jamf: Any, tmp_path: Path
) -> None:
    srv = serve_jamf(JamfSim(generate_computers(2, seed=3), []))
    path = tmp_path / "integrations.json"
    stale = srv.integration("oauth") | {"client_secret": "stale-secret-in-the-file"}
    path.write_text(json.dumps({"jamf-9": stale, "jamf-file-only": srv.integration("basic")}))
    publisher = ListPublisher()
    app = connector(publisher, secrets_key=SecretStr(KEY.decode()), integrations_file=path)
    sealed = await app.handle(request(seal(srv.integration("oauth"))))
    assert sealed is not None and sealed.status == "completed"
    from_file = await app.handle(request(None, "jamf-file-only"))
    assert from_file is not None and from_file.status == "completed"
    wrong = await app.handle(request(None))  # no credentials in the request: the file's stale entry
    assert wrong is not None and wrong.status == "failed"


@pytest.mark.unit
def test_a_bad_entry_names_the_problem_but_not_the_secret() -> None:
    sealed = seal({"base_url": "https://jamf.example", "client_secret": "Sup3r-Secret-Value"})
    with pytest.raises(ValueError, match="jamf-1") as info:
        open_credentials(sealed, "jamf-1", SecretStr(KEY.decode()), KEY_SETTING, parse_integrations)
    assert "Sup3r-Secret-Value" not in str(info.value)


@pytest.mark.unit
def test_both_sign_in_kinds_and_rotation() -> None:
    keys = SecretStr(f"{OTHER_KEY.decode()},{KEY.decode()}")  # new first, old after
    oauth = open_credentials(
        seal({"base_url": "https://j", "client_id": "c", "client_secret": "s"}),
        "j1",
        keys,
        KEY_SETTING,
        parse_integrations,
    )
    basic = open_credentials(
        seal({"base_url": "https://j", "username": "u", "password": "p"}),
        "j2",
        keys,
        KEY_SETTING,
        parse_integrations,
    )
    assert isinstance(oauth, OAuthIntegration) and isinstance(basic, BasicIntegration)
    assert (oauth.integration_id, basic.integration_id) == ("j1", "j2")


@pytest.mark.unit
def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMF_CONNECTOR_SECRETS_KEY", KEY.decode())
    settings = Settings()
    assert settings.secrets_key is not None and settings.secrets_key.get_secret_value() == KEY.decode()
    assert KEY.decode() not in repr(settings)
