"""The integration suite on Apache Kafka and PostgreSQL containers (issue 8 item 6).

`LEDGER_TEST_INFRA=containers pytest -m integration` runs the tests that use the `broker` and
`pg_server` session fixtures against `apache/kafka:3.9.0` (the image of docker-compose.yml, KRaft,
one node) and `postgres:18`, started with testcontainers. The default (`embedded`, or the variable
unset) keeps the embedded Tansu broker and embedded PostgreSQL of `devstack.infra`.

Without a Docker engine the fixtures skip every test that needs them, with the reason; nothing
else changes. Each test still gets its own topic prefix and database (the `kafka` and
`database_url` fixtures of `devstack.pytest_plugin`).

Nothing happens at import time: testcontainers and the Docker SDK are imported when a fixture runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from . import infra

INFRA_ENV = "LEDGER_TEST_INFRA"
KAFKA_IMAGE = "apache/kafka:3.9.0"
POSTGRES_IMAGE = "postgres:18"
# ledger.commands.v1 carries a whole CSV import (R-C2): the broker must accept 64 MiB records.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def wanted() -> bool:
    """True when the suite should run on containers (`LEDGER_TEST_INFRA=containers`)."""
    value = os.environ.get(INFRA_ENV, "embedded").strip().lower()
    if value not in ("embedded", "containers"):
        raise ValueError(f"{INFRA_ENV} must be 'embedded' or 'containers', not {value!r}")
    return value == "containers"


def docker_unavailable() -> str | None:
    """None when a Docker engine answers; otherwise why the container fixtures cannot run."""
    try:
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
    except Exception as exc:  # no SDK, no socket, no permission, engine down: all mean "skip"
        return (
            f"{INFRA_ENV}=containers needs a Docker engine, and none answered "
            f"({type(exc).__name__}: {str(exc)[:200]}); unset {INFRA_ENV} to use the embedded broker "
            "and database"
        )
    return None


def kafka_environment(advertised: str) -> dict[str, str]:
    """Single-node KRaft settings (as docker-compose.yml), advertising `advertised` (host:port)."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{advertised}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        # A group's first join waits this long for more members; tests start one consumer at a time.
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",  # the tests create every topic they use
        "KAFKA_MESSAGE_MAX_BYTES": str(MAX_MESSAGE_BYTES),
        "KAFKA_REPLICA_FETCH_MAX_BYTES": str(MAX_MESSAGE_BYTES),
    }


def _require_docker() -> None:
    if reason := docker_unavailable():
        pytest.skip(reason)


def start_kafka() -> tuple[Any, infra.Broker]:
    """An Apache Kafka container on a fixed free host port (Kafka must advertise the port clients
    use, and a mapped port is known only after start)."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.docker_client import DockerClient
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    host, port = DockerClient().host(), infra.free_port()
    container = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
    for key, value in kafka_environment(f"{host}:{port}").items():
        container = container.with_env(key, value)
    container = container.waiting_for(LogMessageWaitStrategy(r"Kafka Server started"))
    container.start()
    return container, infra.Broker(f"{host}:{port}")


def start_postgres() -> tuple[Any, infra.Database]:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, driver=None)
    container.start()
    return container, infra.Database(container.get_connection_url())


@pytest.fixture(scope="session", name="broker")
def kafka_broker() -> Iterator[infra.Broker]:
    """Apache Kafka in a container, for the whole session (replaces the embedded broker)."""
    _require_docker()
    container, broker = start_kafka()
    try:
        yield broker
    finally:
        container.stop()


@pytest.fixture(scope="session", name="pg_server")
def postgres_server() -> Iterator[infra.Database]:
    """PostgreSQL 18 in a container, for the whole session (replaces the embedded server)."""
    _require_docker()
    container, database = start_postgres()
    try:
        yield database
    finally:
        container.stop()
