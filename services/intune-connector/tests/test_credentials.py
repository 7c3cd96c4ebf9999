"""Credentials carried by the sync request (sealed by the ledger API) against the real Graph simulator;
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
from intune_connector.service import build_app
from intune_connector.settings import Settings, parse_integrations
from ledger_contracts import (
    DeviceObserved,
    EncryptedCredentials,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
)
from mdm_sim.graph import GraphSimConfig, RunningGraphSim

pytestmark = pytest.mark.integration  # the simulator in-process over loopback TLS; no broker
KEY_SETTING = "INTUNE_CONNECTOR_SECRETS_KEY"

KEY = Fernet.generate_key()
OTHER_KEY = Fernet.generate_key()


@pytest.fixture
def sim_config() -> GraphSimConfig:
    return GraphSimConfig(devices=30, seed=11)


class Recorder(ListPublisher):
    """Stands in for the broker: keeps what would be published."""


def seal(entry: Any, key: bytes = KEY) -> EncryptedCredentials:
    return kit_seal(entry, key.decode(), "k1")


def request(credentials: EncryptedCredentials | None, integration_id: str = "int-intune-9") -> SyncRequested:
    link = MasterLinkSettings(master_link_id="ml-9", integration_id=integration_id, mdm_kind="intune")
    return SyncRequested(
        tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=link, credentials=credentials
    )


def connector(recorder: Recorder, **settings: Any) -> Any:
    fast = {"retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05, "max_attempts": 2}
    return build_app(Settings(**fast, **settings), publisher=recorder)


async def test_a_request_with_credentials_pulls_without_any_integrations_file(
    graph_sim: RunningGraphSim,
) -> None:
    recorder = Recorder()
    app = connector(recorder, secrets_key=SecretStr(KEY.decode()))
    result = await app.handle(request(seal(graph_sim.integration())))
    assert result is not None and (result.status, result.devices_observed) == ("completed", 30)
    assert sum(isinstance(e, DeviceObserved) for e in recorder.events) == 30
    done = recorder.events[-1]
    assert isinstance(done, SyncRunCompleted) and done.integration_id == "int-intune-9"


async def test_the_request_wins_over_the_file_and_the_file_is_the_fallback(
    graph_sim: RunningGraphSim, tmp_path: Path
) -> None:
    wrong = graph_sim.integration() | {"client_secret": "stale-secret-in-the-file"}
    path = tmp_path / "integrations.json"
    path.write_text(json.dumps({"int-intune-9": wrong, "int-file-only": graph_sim.integration()}))
    recorder = Recorder()
    app = connector(recorder, secrets_key=SecretStr(KEY.decode()), integrations_file=path)
    sealed = await app.handle(request(seal(graph_sim.integration())))
    assert sealed is not None and sealed.status == "completed"
    from_file = await app.handle(request(None, "int-file-only"))
    assert from_file is not None and from_file.status == "completed"
    stale = await app.handle(request(None))  # no credentials in the request: the file's (wrong) entry
    assert stale is not None and stale.status == "failed"


@pytest.mark.unit
def test_a_bad_entry_names_the_field_but_not_the_secret() -> None:
    sealed = seal({"azure_tenant_id": "tid", "client_secret": "Sup3r-Secret-Value"})
    with pytest.raises(ValueError, match="client_id: Field required") as info:
        open_credentials(sealed, "int-1", SecretStr(KEY.decode()), KEY_SETTING, parse_integrations)
    assert "Sup3r-Secret-Value" not in str(info.value)


@pytest.mark.unit
def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTUNE_CONNECTOR_SECRETS_KEY", KEY.decode())
    settings = Settings()
    assert settings.secrets_key is not None and settings.secrets_key.get_secret_value() == KEY.decode()
    assert KEY.decode() not in repr(settings)
