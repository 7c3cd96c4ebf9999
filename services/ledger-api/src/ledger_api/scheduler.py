"""R-M7: every master link syncs once a day at its local time; several API replicas, one run.

`next_daily_run` is pure. The `Scheduler` is the shell: each tick it claims due links one at a
time with `SELECT … FOR UPDATE SKIP LOCKED` (a replica never waits for, nor sees, a link another
replica is triggering), moves `next_run_at` to the next local occurrence *after now* (so runs
missed while every replica was down collapse into one), records the run and publishes the
request, all in one transaction: if the broker refuses, nothing moves and the next tick retries.
The clock is injected, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import asyncpg
import structlog

from ledger_contracts import MasterLinkSettings

from .adapters.db import Connection
from .adapters.repositories import master_links
from .errors import Unavailable

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_clock() -> datetime:
    return datetime.now(UTC)


def next_daily_run(after: datetime, local_time: time, time_zone: str) -> datetime:
    """The first instant strictly after `after` whose wall clock in `time_zone` reads `local_time`.

    DST: each local date maps to exactly one instant, so a link runs once a day even on the days
    the clock jumps. A time skipped by the spring-forward gap runs that many minutes later (02:30
    → 03:30); a time repeated in autumn runs at its first occurrence (fold=0).
    """
    zone = ZoneInfo(time_zone)
    day = after.astimezone(zone).date()
    for offset in range(3):
        wall = datetime.combine(day + timedelta(days=offset), local_time, tzinfo=zone)
        candidate = wall.astimezone(UTC)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a day later is always after")  # pragma: no cover


class RequestSync(Protocol):
    def __call__(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        link: MasterLinkSettings,
        trigger: str,
        dry_run: bool,
        now: datetime,
    ) -> Awaitable[dict[str, Any]]: ...


class Scheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        request_sync: RequestSync,
        *,
        clock: Clock = utc_clock,
        interval_seconds: float = 30.0,
        on_tick: Callable[[int], None] = lambda triggered: None,
    ) -> None:
        self._pool = pool
        self._request_sync = request_sync
        self._clock = clock
        self._interval = interval_seconds
        self._on_tick = on_tick
        self.running = False

    async def run(self) -> None:
        """Tick until cancelled; a failing tick is logged and the next one tries again."""
        self.running = True
        try:
            while True:
                try:
                    await self.tick()
                except Exception as exc:  # the schedule must outlive a bad tick: log, try again later
                    log.error("scheduler.tick_failed", error=repr(exc))
                await asyncio.sleep(self._interval)
        finally:
            self.running = False

    async def tick(self) -> int:
        """Trigger every due link once; returns how many runs this replica requested."""
        now = self._clock()
        await self._schedule_new_links(now)
        triggered = 0
        while (outcome := await self._trigger_one(now)) is not None:
            triggered += outcome
        self._on_tick(triggered)
        return triggered

    async def _schedule_new_links(self, now: datetime) -> None:
        """Links from the bootstrap file or from before the schedule existed get their first time."""
        async with self._pool.acquire() as conn:
            for row in await master_links.unscheduled(conn):
                first = next_daily_run(now, row["local_time"], row["time_zone"])
                await master_links.set_first_run(conn, row["tenant_id"], row["master_link_id"], first)

    async def _trigger_one(self, now: datetime) -> int | None:
        """1: a run was requested; 0: the link was taken by another replica; None: nothing is due."""
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    due = await master_links.claim_due(conn, now)
                    if due is None:
                        return None
                    following = next_daily_run(now, due.local_time, due.time_zone)
                    moved = await master_links.move_next_run(
                        conn, due.tenant_id, due.settings.master_link_id, due.next_run_at, following
                    )
                    if not moved:  # another replica moved it first (the row lock makes this rare)
                        return 0
                    run = await self._request_sync(
                        conn,
                        tenant_id=due.tenant_id,
                        link=due.settings,
                        trigger="schedule",
                        dry_run=False,
                        now=now,
                    )
            except Unavailable as exc:
                # Rolled back: next_run_at did not move, the next tick tries again.
                log.warning("scheduler.broker_unavailable", error=exc.message)
                return None
        log.info(
            "scheduler.sync_requested",
            tenant_id=due.tenant_id,
            master_link_id=due.settings.master_link_id,
            sync_run_id=str(run["sync_run_id"]),
            was_due_at=due.next_run_at.isoformat(),
            next_run_at=following.isoformat(),
        )
        return 1
