"""`LEDGER_TEST_INFRA=containers` (issue 8 item 6): the switch and the Kafka container's settings.

Starting the containers needs a Docker engine, which this machine does not have: with the variable
set, the `broker`/`pg_server` fixtures skip with the reason (run `LEDGER_TEST_INFRA=containers
pytest -m integration` where Docker exists)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import containers

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("embedded", False), ("containers", True), (" Containers ", True)],
)
def test_default_stays_embedded(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv(containers.INFRA_ENV, raising=False)
    else:
        monkeypatch.setenv(containers.INFRA_ENV, value)
    assert containers.wanted() is expected


def test_an_unknown_value_is_an_error_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(containers.INFRA_ENV, "docker")
    with pytest.raises(ValueError, match="'embedded' or 'containers', not 'docker'"):
        containers.wanted()


def test_kafka_advertises_the_host_port_and_takes_a_csv_import_sized_record() -> None:
    env = containers.kafka_environment("127.0.0.1:49152")
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://127.0.0.1:49152"
    assert env["KAFKA_LISTENERS"].startswith("PLAINTEXT://:9092,")
    assert int(env["KAFKA_MESSAGE_MAX_BYTES"]) >= 64 * 1024 * 1024  # R-C2: one import is one command
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert containers.KAFKA_IMAGE in (ROOT / "docker-compose.yml").read_text()  # the production image
