"""Helpers tests use against the real broker and PostgreSQL (a pytest plugin registers fixtures)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from ledger_contracts import topics

T = TypeVar("T")


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for name in names:
            try:
                await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def create_all_topics(bootstrap: str, prefix: str, partitions: int = 3) -> None:
    names = [topics.named(t, prefix) for t in topics.ALL]
    names += [topics.dlq(n) for n in names]
    await create_topics(bootstrap, names, partitions)


async def create_database(admin_url: str) -> str:
    """A fresh database on the server of `admin_url`; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, url: str) -> None:
    """Drop a database made by `create_database` (FORCE ends sessions a test left open). The server's
    data directory then stays small: a thousand 8 MB test databases made its removal at the end of
    the session take minutes."""
    name = url.partition("?")[0].rsplit("/", 1)[-1]
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def with_database(url: str, name: str) -> str:
    """Replace the database name in a postgresql:// URL (host may be a unix socket query param)."""
    head, _, query = url.partition("?")
    scheme, _, rest = head.partition("://")
    base = rest.rsplit("/", 1)[0] if "/" in rest else rest
    out = f"{scheme}://{base}/{name}"
    return f"{out}?{query}" if query else out


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll an async predicate until it returns a truthy value (no timing assertion: a bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)  # the interval between two polls of the outcome


def poll_until(check: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.1) -> T:
    """Poll a (blocking) check until it returns a truthy value: e2e tests wait for an outcome the
    API will report, never for silence, and the timeout is a bound, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)  # the interval between two polls of the outcome
