"""The reconciler rides out a PostgreSQL crash (issue 9 item 6, R-X1): a batch that meets a lost
database is retried with backoff until it is stored, its Kafka offsets are committed only after
that, and the outcome is exact — every device created once, the run's counts right. Before the
retry, the first batch after the crash raised ConnectionRefusedError out of `run()` and the process
exited (the chaos rounds needed a supervisor to restart it)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import stamina

from devstack import infra, testing
from devstack.kafka_io import publish, read_topic
from ledger_contracts import (
    DeviceObserved,
    LedgerDeviceChanged,
    MasterLinkSettings,
    ObservedDevice,
    SyncRunCompleted,
    SyncRunStarted,
    SyncRunSummary,
    codec,
    topics,
)
from reconciler.adapters.kafka import is_connection_error
from reconciler.service import build_app
from reconciler.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-X1")]
LINK = MasterLinkSettings(master_link_id="ml", integration_id="intune-1", mdm_kind="intune")
N = 400


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[infra.Database]:
    """A PostgreSQL server of this test alone: it is crashed, which the session's server must not be."""
    if infra.os.environ.get("DATABASE_URL"):
        pytest.skip("needs the embedded PostgreSQL (it is killed and restarted)")
    db = infra.start_database(tmp_path / "pg")
    yield db
    db.stop()


@pytest.fixture
def retries() -> Iterator[list[str]]:
    """The errors stamina retried on (its on-retry hook), in order."""
    seen: list[str] = []
    saved = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda d: seen.append(type(d.caused_by).__name__)])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(saved)


def device(run: uuid.UUID, i: int) -> DeviceObserved:
    return DeviceObserved(
        tenant_id="acme",
        sync_run_id=run,
        integration_id="intune-1",
        device=ObservedDevice(mdm_device_id=f"m{i}", uuid=f"m{i}", serial_number=f"SN{i}", os="iOS (17.5)"),
    )


@pytest.fixture
async def settings(own_database: infra.Database, kafka: tuple[str, str]) -> AsyncIterator[Settings]:
    bootstrap, prefix = kafka
    url = await testing.create_database(own_database.url)
    yield Settings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        kafka_session_timeout_ms=2000,
    )


async def test_a_postgres_crash_mid_run_is_retried_and_the_run_is_exact(
    settings: Settings, own_database: infra.Database, retries: list[str]
) -> None:
    app = build_app(settings)
    await app.start()
    task = asyncio.create_task(app.run())
    changes_topic = topics.named(topics.CHANGES, settings.topic_prefix)
    try:
        run = uuid.uuid4()
        first = [SyncRunStarted(tenant_id="acme", sync_run_id=run, master_link=LINK)]
        first += [device(run, i) for i in range(N // 2)]
        await publish(settings.kafka_bootstrap_servers, app.snapshots, first)
        # The first half stored (the running summary + one change per device) before the crash.
        await read_topic(
            settings.kafka_bootstrap_servers, changes_topic, codec.change_adapter, until=1 + N // 2
        )

        await asyncio.to_thread(own_database.kill)
        rest = [device(run, i) for i in range(N // 2, N)]
        rest.append(
            SyncRunCompleted(tenant_id="acme", sync_run_id=run, integration_id="intune-1", devices_observed=N)
        )
        await publish(settings.kafka_bootstrap_servers, app.snapshots, rest)
        await testing.wait_for(lambda: _true(bool(retries)), timeout=30)  # the batch met the dead server
        assert not task.done(), task  # still consuming, not crashed
        await asyncio.to_thread(own_database.start)

        out = await read_topic(
            settings.kafka_bootstrap_servers, changes_topic, codec.change_adapter, until=2 + N
        )
        assert not task.done()
        created = [e for e in out if isinstance(e, LedgerDeviceChanged)]
        assert len({e.device_id for e in created}) == N  # N devices, each created once
        assert all(e.change == "created" and e.version == 1 for e in created) and len(created) == N
        summaries = [e for e in out if isinstance(e, SyncRunSummary)]
        assert [s.status for s in summaries] == ["running", "completed"]
        assert (summaries[-1].counts.created, summaries[-1].counts.seen) == (N, N)
        assert retries and all(r in _CONNECTION_NAMES for r in retries), retries
        conn = await asyncpg.connect(settings.database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM reconciler.devices") == N
        finally:
            await conn.close()
    finally:
        task.cancel()
        await app.stop()


async def test_a_statement_that_never_answers_is_given_up_and_its_batch_retried(
    settings: Settings, retries: list[str]
) -> None:
    """Issue 9: once in `make chaos` an unlink batch waited ten minutes on a statement a crashed
    server's orphaned backend never answered. A statement is now given up after
    `db_command_timeout_s` (TimeoutError) and its batch retried on a fresh connection. Here the
    statement is held by a lock another session keeps until the first retry has been seen."""
    settings = settings.model_copy(update={"db_command_timeout_s": 1.0})
    app = build_app(settings)
    await app.start()
    task = asyncio.create_task(app.run())
    changes_topic = topics.named(topics.CHANGES, settings.topic_prefix)
    blocker = await asyncpg.connect(settings.database_url)
    try:
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE reconciler.sync_runs IN ACCESS EXCLUSIVE MODE")
        run = uuid.uuid4()
        batch: list = [SyncRunStarted(tenant_id="acme", sync_run_id=run, master_link=LINK)]
        batch += [device(run, i) for i in range(3)]
        batch.append(
            SyncRunCompleted(tenant_id="acme", sync_run_id=run, integration_id="intune-1", devices_observed=3)
        )
        await publish(settings.kafka_bootstrap_servers, app.snapshots, batch)
        await testing.wait_for(lambda: _true("TimeoutError" in retries), timeout=60)
        assert not task.done(), task  # still consuming, not crashed
        await tx.rollback()  # the "server" answers again

        out = await read_topic(settings.kafka_bootstrap_servers, changes_topic, codec.change_adapter, until=5)
        summaries = [e for e in out if isinstance(e, SyncRunSummary)]
        assert summaries[-1].status == "completed" and summaries[-1].counts.created == 3
        assert len({e.device_id for e in out if isinstance(e, LedgerDeviceChanged)}) == 3
    finally:
        await blocker.close()
        task.cancel()
        await app.stop()


# What a crashed or recovering server answers (the socket file may be gone or refuse).
_CONNECTION_NAMES = {
    "ConnectionRefusedError",
    "FileNotFoundError",
    "OSError",
    "CannotConnectNowError",
    "ConnectionDoesNotExistError",
    "ConnectionResetError",
    "InterfaceError",
}


async def _true(value: bool) -> bool:
    return value


def _during(exc: Exception, cause: Exception) -> Exception:
    """`exc` raised while handling `cause` (as asyncpg does when a connection dies mid-operation)."""
    exc.__context__ = cause
    return exc


@pytest.mark.unit
@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (ConnectionResetError(104, "reset"), True),
        (OSError("Multiple exceptions: [Errno 111] Connect call failed"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
        (asyncpg.InterfaceError("cannot perform operation: connection is closed"), True),
        (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (asyncpg.DataError("invalid input"), False),
        (ValueError("a bug"), False),
        (
            _during(
                asyncpg.InterfaceError(
                    "cannot call Transaction.__aexit__(): the underlying connection is closed"
                ),
                asyncpg.exceptions.InternalClientError("cannot switch to state 12"),
            ),
            True,
        ),
        (
            _during(
                asyncpg.exceptions.InternalClientError("cannot switch to state 12"), ConnectionResetError()
            ),
            True,
        ),
        (_during(ValueError("a bug"), KeyError("x")), False),
        (asyncpg.exceptions._base.InternalClientError("cannot switch to state 15; another operation"), True),
    ],
)
def test_only_connection_errors_are_retried(exc: Exception, retried: bool) -> None:
    """A lost connection is retried; a data error or a bug is not (it still stops the process)."""
    assert is_connection_error(exc) is retried
