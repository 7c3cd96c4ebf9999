"""The embedded infrastructure starts and is real: a PostgreSQL server and a Kafka-compatible broker."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.testing import with_database
from ledger_contracts import topics

pytestmark = pytest.mark.integration


async def test_database_is_real_postgres(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert (await conn.fetchval("SHOW server_version_num")) >= "150000"
        await conn.execute("CREATE TABLE t (id int primary key)")
        await conn.execute("INSERT INTO t VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await conn.close()


async def test_broker_round_trip_with_consumer_group(kafka: tuple[str, str]) -> None:
    bootstrap, prefix = kafka
    topic = topics.named(topics.SNAPSHOTS, prefix)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, key=b"acme", value=str(i).encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        got: list[bytes] = []
        while len(got) < 10:
            batch = await consumer.getmany(timeout_ms=2000)
            assert batch, "broker delivered nothing"
            got += [r.value for recs in batch.values() for r in recs]
        # Same key -> same partition -> order kept (SPEC §9).
        assert got == [str(i).encode() for i in range(10)]
        await consumer.commit()
    finally:
        await consumer.stop()


@pytest.mark.unit
def test_with_database_replaces_name_in_socket_and_tcp_urls() -> None:
    assert (
        with_database("postgresql://postgres:@/postgres?host=/tmp/x", "db1")
        == "postgresql://postgres:@/db1?host=/tmp/x"
    )
    assert with_database("postgresql://u:p@h:5432/app", "db2") == "postgresql://u:p@h:5432/db2"
