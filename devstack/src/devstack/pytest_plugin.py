"""Session fixtures: one real broker and one real PostgreSQL server per test session.

Each test gets its own topic prefix and its own database (STYLE §7: unique per test).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devstack import containers, infra, testing


@pytest.fixture(scope="session")
def infra_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ledger-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def broker(infra_root: Path) -> Iterator[infra.Broker]:
    b = infra.start_broker(infra_root / "logs")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pg_server(infra_root: Path) -> Iterator[infra.Database]:
    db = infra.start_database(infra_root / "pgdata")
    yield db
    db.stop()


@pytest.fixture
async def database_url(pg_server: infra.Database) -> AsyncIterator[str]:
    url = await testing.create_database(pg_server.url)
    yield url
    with contextlib.suppress(Exception):  # a test that restarted or broke the server keeps its database
        await testing.drop_database(pg_server.url, url)


@pytest.fixture
async def kafka(broker: infra.Broker) -> AsyncIterator[tuple[str, str]]:
    """(bootstrap servers, topic prefix) with every topic created under a fresh prefix."""
    prefix = testing.unique_prefix()
    await testing.create_all_topics(broker.bootstrap_servers, prefix)
    yield broker.bootstrap_servers, prefix


if containers.wanted():  # LEDGER_TEST_INFRA=containers: Apache Kafka and PostgreSQL in Docker
    broker, pg_server = containers.kafka_broker, containers.postgres_server
