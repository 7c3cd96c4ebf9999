"""Fixtures of the ledger API tests: real PostgreSQL and broker (devstack), the app in-process."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from fastapi import FastAPI

from devstack.testing import wait_for
from ledger_api.app import build_app
from ledger_api.settings import Settings
from ledger_contracts import Event, codec, topics

# The tests' message builders (`ledger_api_testing.py`, beside this file) are test code, not part of
# the shipped package; with --import-mode=importlib this directory is not on sys.path by itself.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))

TOKENS = {"acme": "acme-token-0123456789", "globex": "globex-token-0123456789"}

BOOTSTRAP = {
    "tenants": [
        {
            "tenant_id": "acme",
            "name": "Acme Corp",
            "time_zone": "Asia/Tokyo",
            "api_tokens": [TOKENS["acme"]],
            "integrations": [
                {"integration_id": "int-intune-1", "kind": "intune", "display_name": "Intune (HQ)"},
                {"integration_id": "int-jamf-1", "kind": "jamf_pro"},
            ],
            "master_links": [
                {
                    "master_link_id": "ml-intune-1",
                    "integration_id": "int-intune-1",
                    "mdm_kind": "intune",
                    "matching_key": {"mdm": "serial_number", "ledger": "asset_number"},
                    "asset_number_source": "device_name",
                }
            ],
        },
        {
            "tenant_id": "globex",
            "name": "Globex",
            "api_tokens": [TOKENS["globex"]],
        },
    ]
}


@pytest.fixture
def bootstrap_file(tmp_path: Path) -> Path:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(BOOTSTRAP))
    return path


@pytest.fixture
def settings(database_url: str, kafka: tuple[str, str], bootstrap_file: Path) -> Settings:
    bootstrap, prefix = kafka
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        bootstrap_file=bootstrap_file,
        command_wait_seconds=10,
        kafka_session_timeout_ms=2000,
        allow_private_mdm_hosts=True,  # R-X2: simulators on 127.0.0.1, test names that never resolve
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = build_app(settings)
    async with application.router.lifespan_context(application):
        # Wait until the projection has joined its group, so produced changes are seen promptly.
        state = application.state.ledger
        await wait_for(_async(lambda: state.consumer.running), timeout=30)
        yield application


def _async(fn: Callable[[], Any]) -> Callable[[], Coroutine[Any, Any, Any]]:
    async def predicate() -> Any:
        return fn()

    return predicate


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated as tenant `acme`."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {TOKENS['acme']}"},
        timeout=30,
    ) as c:
        yield c


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


class Publisher:
    def __init__(self, producer: AIOKafkaProducer, prefix: str) -> None:
        self.producer = producer
        self.prefix = prefix

    def topic(self, name: str) -> str:
        return topics.named(name, self.prefix)

    async def changes(self, *events: Event) -> None:
        """Publish to ledger.changes.v1, keyed by tenant, in order."""
        for event in events:
            key, value = codec.encode(event)
            await self.producer.send_and_wait(self.topic(topics.CHANGES), value=value, key=key)

    async def raw(self, name: str, value: bytes | None, key: bytes = b"acme") -> None:
        await self.producer.send_and_wait(self.topic(name), value=value, key=key)


@pytest.fixture
async def publish(kafka: tuple[str, str]) -> AsyncIterator[Publisher]:
    bootstrap, prefix = kafka
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    await producer.start()
    yield Publisher(producer, prefix)
    await producer.stop()


class Tap:
    """Reads a topic from its start, without a consumer group (no join delay)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.records: list[ConsumerRecord] = []  # type: ignore[type-arg]

    async def start(self) -> None:
        await self.consumer.start()
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def poll(self, timeout_ms: int = 200) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        batch = await self.consumer.getmany(timeout_ms=timeout_ms)
        new = [r for recs in batch.values() for r in recs]
        self.records.extend(new)
        return new

    async def take(self, n: int, timeout: float = 30) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        async def enough() -> bool:
            await self.poll()
            return len(self.records) >= n

        await wait_for(enough, timeout=timeout)
        return self.records[:n]

    async def read_to_end(self, timeout: float = 30) -> list[ConsumerRecord]:  # type: ignore[type-arg]
        """Every record of the topic up to its high-watermark as of now. The API awaits each publish
        (`send_and_wait`) before it answers, so once a response is in, everything that request
        published is below the high-watermark: "nothing was published" is then an exact check,
        never a wait on silence."""
        ends = await self.consumer.end_offsets(list(self.consumer.assignment()))

        async def caught_up() -> bool:
            await self.poll(timeout_ms=50)
            positions = [await self.consumer.position(tp) for tp in ends]
            return all(pos >= end for pos, end in zip(positions, ends.values(), strict=True))

        await wait_for(caught_up, timeout=timeout)
        return list(self.records)


@pytest.fixture
async def tap(kafka: tuple[str, str]) -> AsyncIterator[Callable[[str], Coroutine[Any, Any, Tap]]]:
    """`await tap(topics.COMMANDS)` → a Tap on that topic of this test's prefix."""
    bootstrap, prefix = kafka
    opened: list[Tap] = []

    async def open_tap(name: str) -> Tap:
        t = Tap(bootstrap, topics.named(name, prefix))
        await t.start()
        opened.append(t)
        return t

    yield open_tap
    for t in opened:
        await t.consumer.stop()


@pytest.fixture
def project(
    app: FastAPI, publish: Publisher, db: asyncpg.Connection
) -> Callable[..., Coroutine[Any, Any, None]]:
    """`await project(*events)`: publish changes and wait until the app has projected them."""
    group = app.state.ledger.settings.consumer_group

    async def consumed() -> int:
        return int(
            await db.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM ledger.consumer_offsets WHERE group_id = $1", group
            )
        )

    async def run(*events: Event) -> None:
        before = await consumed()
        await publish.changes(*events)

        async def done() -> bool:
            return await consumed() >= before + len(events)

        await wait_for(done, timeout=30)

    return run


@pytest.fixture
async def globex(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated as the other tenant, `globex`."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {TOKENS['globex']}"},
    ) as c:
        yield c


@pytest.fixture
async def anon(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """No Authorization header."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "details"}}."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def error() -> Callable[[httpx.Response, int, str], dict[str, Any]]:
    return assert_error


# --- the real reconciler, in-process (CSV imports, conflicts, replay) ---------------------------


@pytest.fixture
async def reconciler(database_url: str, kafka: tuple[str, str]) -> AsyncIterator[Any]:
    """The reconciler service on the same database and topics, as services/reconciler runs it."""
    import asyncio

    from reconciler.service import build_app as build_reconciler
    from reconciler.settings import Settings as ReconcilerSettings

    bootstrap, prefix = kafka
    service = build_reconciler(
        ReconcilerSettings(
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            kafka_session_timeout_ms=2000,
        )
    )
    await service.start()
    task = asyncio.create_task(service.run())
    yield service
    task.cancel()
    await service.stop()


@pytest.fixture
def mdm_sync(
    publish: Publisher, client: httpx.AsyncClient, reconciler: Any
) -> Callable[..., Coroutine[Any, Any, dict[str, Any]]]:
    """`await mdm_sync(observed_devices, dry_run=False)`: one complete Intune sync run of master link
    ml-intune-1 through the real reconciler; returns the run once its summary is projected (every
    change of the run is projected before it)."""
    import uuid

    from ledger_contracts import (
        DeviceObserved,
        MasterLinkSettings,
        MatchingKey,
        SyncRunCompleted,
        SyncRunStarted,
    )

    link = MasterLinkSettings(
        master_link_id="ml-intune-1",
        integration_id="int-intune-1",
        mdm_kind="intune",
        matching_key=MatchingKey(mdm="serial_number", ledger="serial_number"),
        asset_number_source="device_name",
    )

    default = link

    async def run(devices: list[Any], *, dry_run: bool = False, link: Any = None) -> dict[str, Any]:
        """`link`: another master link's run (issue 11: a second MDM); default ml-intune-1."""
        link = link or default
        run_id = uuid.uuid4()
        events: list[Event] = [
            SyncRunStarted(tenant_id="acme", sync_run_id=run_id, master_link=link, dry_run=dry_run),
            *(
                DeviceObserved(
                    tenant_id="acme", sync_run_id=run_id, integration_id=link.integration_id, device=d
                )
                for d in devices
            ),
            SyncRunCompleted(
                tenant_id="acme",
                sync_run_id=run_id,
                integration_id=link.integration_id,
                devices_observed=len(devices),
            ),
        ]
        for event in events:
            key, value = codec.encode(event)
            await publish.producer.send_and_wait(publish.topic(topics.SNAPSHOTS), value=value, key=key)

        async def completed() -> dict[str, Any] | None:
            resp = await client.get(f"/v1/sync-runs/{run_id}")
            return resp.json() if resp.status_code == 200 and resp.json()["status"] == "completed" else None

        return await wait_for(completed, timeout=60)  # type: ignore[no-any-return]

    return run
