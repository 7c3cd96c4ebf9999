"""R-M7 against real PostgreSQL: several schedulers (API replicas) on one database trigger a due link
once; runs missed while down run once; removed links never run; a refused publish moves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from ledger_api import bootstrap
from ledger_api.adapters import db
from ledger_api.errors import Unavailable
from ledger_api.scheduler import Scheduler
from ledger_api.sync_requests import SyncRequests
from ledger_contracts import Event, SyncRequested

pytestmark = pytest.mark.integration

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=TOKYO).astimezone(UTC)  # 09:00 in Tokyo


class Broker:
    """Records published requests; slow, so concurrent schedulers overlap; can refuse."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.refuse = False
        self.published: list[SyncRequested] = []

    async def publish(self, event: Event) -> None:
        await asyncio.sleep(self.delay)  # a slow broker, as the test configures it
        if self.refuse:
            raise Unavailable("broker down", code="broker_unavailable")
        assert isinstance(event, SyncRequested)
        self.published.append(event)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(database_url, min_size=1, max_size=8)
    await db.apply_migrations(p)
    data = bootstrap.BootstrapFile.model_validate(
        {
            "tenants": [
                {
                    "tenant_id": "acme",
                    "name": "Acme",
                    "time_zone": "Asia/Tokyo",
                    "integrations": [
                        {"integration_id": "int-a", "kind": "intune"},
                        {"integration_id": "int-b", "kind": "jamf_pro"},
                    ],
                    "master_links": [
                        {"master_link_id": "ml-a", "integration_id": "int-a", "mdm_kind": "intune"},
                        {"master_link_id": "ml-b", "integration_id": "int-b", "mdm_kind": "jamf_pro"},
                    ],
                }
            ]
        }
    )
    await bootstrap.seed(p, data, now=NOW)
    yield p
    await p.close()


def scheduler(pool: asyncpg.Pool, broker: Broker, now: datetime) -> Scheduler:
    return Scheduler(pool, SyncRequests(publish=broker.publish, keys=None), clock=lambda: now)


async def set_next_run(pool: asyncpg.Pool, link: str, at: datetime | None) -> None:
    await pool.execute("UPDATE ledger.master_links SET next_run_at = $2 WHERE master_link_id = $1", link, at)


async def next_run(pool: asyncpg.Pool, link: str) -> datetime:
    return await pool.fetchval(  # type: ignore[no-any-return]
        "SELECT next_run_at FROM ledger.master_links WHERE master_link_id = $1", link
    )


async def runs(pool: asyncpg.Pool) -> list[Any]:
    return await pool.fetch(
        "SELECT master_link_id, trigger, status FROM ledger.sync_runs ORDER BY master_link_id"
    )


async def test_seeded_links_are_scheduled_for_the_next_local_morning(pool: asyncpg.Pool) -> None:
    expected = datetime(2026, 11, 27, 6, 0, tzinfo=TOKYO)  # 09:00 now, so tomorrow 06:00 (tenant's zone)
    assert await next_run(pool, "ml-a") == expected and await next_run(pool, "ml-b") == expected
    broker = Broker()
    assert await scheduler(pool, broker, NOW).tick() == 0
    assert broker.published == [] and await runs(pool) == []


async def test_two_schedulers_on_one_database_trigger_a_due_link_exactly_once(pool: asyncpg.Pool) -> None:
    await set_next_run(pool, "ml-a", NOW - timedelta(minutes=1))
    broker = Broker(delay=0.3)  # the first holds its claim while the second looks
    results = await asyncio.gather(*(scheduler(pool, broker, NOW).tick() for _ in range(3)))
    assert sorted(results) == [0, 0, 1]
    assert [r.master_link.master_link_id for r in broker.published] == ["ml-a"]
    assert [tuple(r) for r in await runs(pool)] == [("ml-a", "schedule", "requested")]
    assert await next_run(pool, "ml-a") == datetime(2026, 11, 27, 6, 0, tzinfo=TOKYO)
    # Ticking again at the same instant does nothing.
    assert await scheduler(pool, broker, NOW).tick() == 0


async def test_runs_missed_for_three_days_run_once_and_the_next_is_tomorrow_morning(
    pool: asyncpg.Pool,
) -> None:
    await set_next_run(pool, "ml-a", datetime(2026, 11, 23, 6, 0, tzinfo=TOKYO))
    broker = Broker()
    assert await scheduler(pool, broker, NOW).tick() == 1
    [request] = broker.published
    assert (request.trigger, request.dry_run, request.tenant_id) == ("schedule", False, "acme")
    assert request.credentials is None  # int-a has no stored credentials: the connector's file
    assert await next_run(pool, "ml-a") == datetime(2026, 11, 27, 6, 0, tzinfo=TOKYO)
    assert await scheduler(pool, broker, NOW + timedelta(hours=12)).tick() == 0
    # The next morning both links are due (ml-b was seeded for it), each runs once.
    assert await scheduler(pool, broker, datetime(2026, 11, 27, 6, 0, 1, tzinfo=TOKYO)).tick() == 2
    assert [r["master_link_id"] for r in await runs(pool)] == ["ml-a", "ml-a", "ml-b"]


async def test_every_due_link_runs_and_removed_links_never(pool: asyncpg.Pool) -> None:
    for link in ("ml-a", "ml-b"):
        await set_next_run(pool, link, NOW - timedelta(hours=1))
    await pool.execute("UPDATE ledger.master_links SET removed_at = now() WHERE master_link_id = 'ml-b'")
    broker = Broker()
    assert await scheduler(pool, broker, NOW).tick() == 1
    assert [r.master_link.master_link_id for r in broker.published] == ["ml-a"]
    await pool.execute("UPDATE ledger.master_links SET removed_at = NULL WHERE master_link_id = 'ml-b'")
    assert await scheduler(pool, broker, NOW).tick() == 1
    assert [r.master_link.mdm_kind for r in broker.published] == ["intune", "jamf_pro"]


async def test_a_refused_publish_moves_nothing_and_the_next_tick_runs_it(pool: asyncpg.Pool) -> None:
    due = NOW - timedelta(minutes=5)
    await set_next_run(pool, "ml-a", due)
    broker = Broker()
    broker.refuse = True
    assert await scheduler(pool, broker, NOW).tick() == 0
    assert await next_run(pool, "ml-a") == due and await runs(pool) == []
    broker.refuse = False
    assert await scheduler(pool, broker, NOW + timedelta(seconds=30)).tick() == 1
    assert len(broker.published) == 1 and len(await runs(pool)) == 1


async def test_links_without_a_next_run_get_one_without_running(pool: asyncpg.Pool) -> None:
    await set_next_run(pool, "ml-a", None)
    await pool.execute(
        "UPDATE ledger.master_links SET local_time = $1, time_zone = 'Europe/London'", time(23, 0)
    )
    broker = Broker()
    assert await scheduler(pool, broker, NOW).tick() == 0
    assert await next_run(pool, "ml-a") == datetime(2026, 11, 26, 23, 0, tzinfo=ZoneInfo("Europe/London"))
    assert broker.published == []
