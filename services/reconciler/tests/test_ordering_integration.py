"""Issue 9 through the real broker and PostgreSQL: R-M12 (a run that arrives before the command of
its generation is parked in PostgreSQL and applied once the command arrives on the other topic; a
run of a removed generation is refused) and R-M13 (a restarted attempt in the middle of a run, and
a start redelivered after completion). Messages in, events out; state read back from PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from devstack.kafka_io import publish
from ledger_contracts import (
    DeviceObserved,
    Event,
    MasterLinkChanged,
    SyncRunCompleted,
    SyncRunStarted,
    SyncRunSummary,
    UnlinkMasterLink,
)
from reconciler.service import Reconciler
from reconciler.settings import Settings

from .test_lifecycle_integration import LINK, TENANT, fetch, observed, wait_event

pytestmark = pytest.mark.integration


def run_msgs(
    link_generation: int, attempts: list[list[str]], run_id: uuid.UUID | None = None, complete: bool = True
) -> tuple[uuid.UUID, list[Event]]:
    """One run pulled by one or more attempts (a connector restarted mid-pull); the last completes."""
    run_id = run_id or uuid.uuid4()
    link = LINK.model_copy(update={"generation": link_generation})
    common = {"tenant_id": TENANT, "sync_run_id": run_id, "integration_id": LINK.integration_id}
    msgs: list[Event] = []
    attempt = uuid.uuid4()
    for ids in attempts:
        attempt = uuid.uuid4()
        msgs.append(
            SyncRunStarted(tenant_id=TENANT, sync_run_id=run_id, master_link=link, attempt_id=attempt)
        )
        msgs += [DeviceObserved(device=observed(m), attempt_id=attempt, **common) for m in ids]
    if complete:
        msgs.append(SyncRunCompleted(devices_observed=len(attempts[-1]), attempt_id=attempt, **common))
    return run_id, msgs


def ended(run_id: uuid.UUID, status: str = "completed"):  # type: ignore[no-untyped-def]  # a predicate
    return lambda e: isinstance(e, SyncRunSummary) and e.sync_run_id == run_id and e.status == status


async def wait_rows(url: str, sql: str, n: int, timeout: float = 30) -> None:
    """Until `sql` (a count) reaches n: explicit state in PostgreSQL, never silence."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if (await fetch(url, sql))[0][0] >= n:
            return
        await asyncio.sleep(0.1)  # polling PostgreSQL for a state the reconciler commits
    raise TimeoutError(sql)


@pytest.mark.rule("R-M12")
async def test_a_run_ahead_of_its_link_is_parked_then_applied_and_a_removed_link_refuses(
    settings: Settings, reconciler: Reconciler
) -> None:
    url = settings.database_url
    run_id, msgs = run_msgs(1, [["m1", "m2", "m3"]])
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, msgs)
    # Parked in PostgreSQL, in the batch's transaction: the start, three devices, the end.
    await wait_rows(url, "SELECT count(*) FROM reconciler.parked", len(msgs))
    assert (await fetch(url, "SELECT count(*) FROM reconciler.devices"))[0][0] == 0

    created = MasterLinkChanged(
        tenant_id=TENANT, change="created", master_link=LINK.model_copy(update={"generation": 1})
    )
    await publish(settings.kafka_bootstrap_servers, reconciler.commands, [created])
    out = await wait_event(settings, ended(run_id))
    (summary,) = [e for e in out if ended(run_id)(e)]
    assert (summary.counts.seen, summary.counts.created, summary.generation) == (3, 3, 1)
    assert (await fetch(url, "SELECT count(*) FROM reconciler.parked"))[0][0] == 0
    rows = await fetch(
        url, "SELECT count(*) FROM reconciler.devices WHERE binding_integration_id = $1", "intune-1"
    )
    assert rows[0][0] == 3

    unlink = UnlinkMasterLink(
        tenant_id=TENANT, master_link_id="ml", integration_id="intune-1", keep_devices=False, generation=2
    )
    await publish(settings.kafka_bootstrap_servers, reconciler.commands, [unlink])
    await wait_rows(url, "SELECT count(*) FROM reconciler.link_generations WHERE change = 'unlinked'", 1)
    stale_id, stale = run_msgs(1, [["m1", "m4"]])  # queued before the unlink, consumed after it
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, stale)
    out = await wait_event(settings, ended(stale_id, "refused"))
    (refused,) = [e for e in out if ended(stale_id, "refused")(e)]
    assert refused.error and "superseded by generation 2 (unlinked)" in refused.error
    assert (await fetch(url, "SELECT count(*) FROM reconciler.devices"))[0][0] == 0  # nothing re-created


@pytest.mark.rule("R-M13")
async def test_a_restarted_attempt_counts_each_device_once_and_a_late_start_never_reopens(
    settings: Settings, reconciler: Reconciler
) -> None:
    url = settings.database_url
    five = ["m1", "m2", "m3", "m4", "m5"]
    # The connector dies after 3 devices and restarts the run: the second attempt sends all five.
    run_id, msgs = run_msgs(0, [five[:3], five])
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, msgs)
    out = await wait_event(settings, ended(run_id))
    (first,) = [e for e in out if ended(run_id)(e)]
    assert (first.counts.seen, first.counts.created, first.counts.errors) == (5, 5, 0)

    # The repro: a no-change re-sync killed and restarted reported seen 31,000 / errors 11,000.
    again, msgs = run_msgs(0, [five[:4], five])
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, msgs)
    out = await wait_event(settings, ended(again))
    (second,) = [e for e in out if ended(again)(e)]
    c = second.counts
    assert (c.seen, c.unchanged, c.errors, c.missing) == (5, 5, 0, 0)

    # The request redelivered after completion: a new attempt of the finished run, then a marker run
    # on the same partition (same tenant key): once the marker ends, the late attempt was consumed.
    _, late = run_msgs(0, [[*five, "m6"]], run_id=again, complete=False)
    marker, tail = run_msgs(0, [five])
    await publish(settings.kafka_bootstrap_servers, reconciler.snapshots, late + tail)
    await wait_event(settings, ended(marker))
    (row,) = await fetch(
        url, "SELECT status, progress FROM reconciler.sync_runs WHERE sync_run_id = $1", again
    )
    assert row["status"] == "completed"
    assert json.loads(row["progress"])["ignored_attempts"] == [str(late[0].attempt_id)]  # type: ignore[attr-defined]  # a SyncRunStarted
    assert (await fetch(url, "SELECT count(*) FROM reconciler.devices"))[0][0] == 5  # m6 never created
