"""The sync-run skeleton: counts, skips (first 1,000 listed), warnings, one device per id per
attempt, and what a broker error or a cancellation leaves behind (R-M13, R-M14)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.errors import KafkaConnectionError

from connector_kit import ListPublisher, SyncRun
from connector_kit.run import MAX_LISTED_SKIPS
from ledger_contracts import (
    DeviceObserved,
    ObservedDevice,
    RecordIssue,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

from .conftest import request

pytestmark = pytest.mark.unit


def warning(dev: str) -> RecordIssue:
    return RecordIssue(kind="warning", mdm_device_id=dev, field="enrolledDateTime", reason="not a timestamp")


async def test_counts_skips_and_warnings_reach_the_completed_event() -> None:
    publisher = ListPublisher()
    run = SyncRun(request(), "i1", publisher)

    async def pull(r: SyncRun) -> int | None:
        await r.observe(ObservedDevice(mdm_device_id="a"))
        await r.observe(ObservedDevice(mdm_device_id="b"), (warning("b"),))
        await r.observe(ObservedDevice(mdm_device_id="a"))  # the same id again: once
        for n in range(MAX_LISTED_SKIPS + 5):
            r.skip(None, "id", f"record {n} has no id")
        return 1007

    result = await run.execute(pull, str)
    started, *devices, done = publisher.events
    assert isinstance(started, SyncRunStarted) and isinstance(done, SyncRunCompleted)
    assert [d.device.mdm_device_id for d in devices if isinstance(d, DeviceObserved)] == ["a", "b"]
    assert (done.devices_observed, done.devices_skipped, done.devices_with_warnings) == (2, 1005, 1)
    assert len(done.skipped) == MAX_LISTED_SKIPS and done.skipped[0].reason == "record 0 has no id"
    assert done.reported_total == 1007
    assert {e.attempt_id for e in publisher.events} == {run.attempt_id}
    assert (result.status, result.duplicates, result.skipped, result.with_warnings) == (
        "completed",
        1,
        1005,
        1,
    )


async def test_a_failed_pull_ends_with_failed_and_the_devices_before_it() -> None:
    publisher = ListPublisher()

    async def pull(r: SyncRun) -> int | None:
        await r.observe(ObservedDevice(mdm_device_id="a"))
        raise ValueError("page 2 broke")

    result = await SyncRun(request(), "i1", publisher).execute(pull, lambda e: f"oops: {e}")
    assert [type(e) for e in publisher.events] == [SyncRunStarted, DeviceObserved, SyncRunFailed]
    failed = publisher.events[-1]
    assert isinstance(failed, SyncRunFailed) and (failed.error, failed.devices_observed) == (
        "oops: page 2 broke",
        1,
    )
    assert result.status == "failed"


async def test_a_broker_error_propagates_and_publishes_no_end() -> None:
    """Nothing can be published then: the request must stay unacknowledged, to be run again."""
    publisher = ListPublisher()
    publisher.fail_after = 3

    async def pull(r: SyncRun) -> int | None:
        for n in range(10):
            await r.observe(ObservedDevice(mdm_device_id=str(n)))
        return 10

    with pytest.raises(KafkaConnectionError):
        await SyncRun(request(), "i1", publisher).execute(pull, str)
    assert len(publisher.events) == 3
    assert not any(isinstance(e, SyncRunCompleted | SyncRunFailed) for e in publisher.events)


async def test_cancellation_publishes_nothing_more() -> None:
    publisher = ListPublisher()
    entered = asyncio.Event()

    async def pull(r: SyncRun) -> int | None:
        await r.observe(ObservedDevice(mdm_device_id="a"))
        entered.set()
        await asyncio.Event().wait()  # a long page
        return 1

    task = asyncio.create_task(SyncRun(request(), "i1", publisher).execute(pull, str))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [type(e) for e in publisher.events] == [SyncRunStarted, DeviceObserved]


async def test_each_run_object_is_a_new_attempt_of_the_same_run() -> None:
    req = request()
    first, second = SyncRun(req, "i1", ListPublisher()), SyncRun(req, "i1", ListPublisher())
    assert first.attempt_id != second.attempt_id and isinstance(first.attempt_id, uuid.UUID)
