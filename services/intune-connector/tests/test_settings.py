"""Settings from the environment and the integrations file; a bad file never echoes a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intune_connector.settings import PUBLIC_GRAPH, Settings, load_integrations

pytestmark = pytest.mark.integration  # reads and writes files under tmp_path


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INTUNE_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    monkeypatch.setenv("INTUNE_CONNECTOR_TOPIC_PREFIX", "t1.")
    monkeypatch.setenv("INTUNE_CONNECTOR_INTEGRATIONS_FILE", str(tmp_path / "i.json"))
    s = Settings()
    assert (s.kafka_bootstrap_servers, s.topic_prefix, s.integrations_file) == (
        "k:9092",
        "t1.",
        tmp_path / "i.json",
    )


def test_integrations_file_defaults_to_the_public_cloud(tmp_path: Path) -> None:
    path = tmp_path / "i.json"
    entry = {
        "azure_tenant_id": "tid",
        "client_id": "cid",
        "client_secret": "s3cr3t-v4lue",
        "display_name": "extra ok",
    }
    path.write_text(json.dumps({"int-1": entry}))
    integration = load_integrations(path)["int-1"]
    assert integration.authority == "https://login.microsoftonline.com/tid"
    assert integration.graph_base_url == PUBLIC_GRAPH and integration.ca_bundle is None
    assert "s3cr3t-v4lue" not in repr(integration)  # SecretStr


def test_a_bad_entry_names_the_field_but_not_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "i.json"
    path.write_text(json.dumps({"int-1": {"azure_tenant_id": "tid", "client_secret": "Sup3r-Secret-Value"}}))
    with pytest.raises(ValueError, match="integration 'int-1': client_id: Field required") as info:
        load_integrations(path)
    assert "Sup3r-Secret-Value" not in str(info.value)
