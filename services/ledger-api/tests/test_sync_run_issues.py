"""R-M12, R-M14 (API side): a sync run's summary is projected whole — a `refused` status with its
reason, the run's generation, skipped/warning counts and its first issues — and served by
`GET /v1/sync-runs/{id}`; the list shows counts and status. A later summary never moves a
terminal (refused) run back. Real PostgreSQL and broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ledger_api_testing import T0, sync_run_summary

from ledger_contracts import RecordIssue, SyncRunCounts

pytestmark = pytest.mark.integration

Project = Callable[..., Coroutine[Any, Any, None]]


def _issues(n: int) -> tuple[RecordIssue, ...]:
    return tuple(
        RecordIssue(
            kind="warning", mdm_device_id=f"mdm-{i}", field="enrolledDateTime", reason=f"not a date {i}"
        )
        if i % 2 == 0
        else RecordIssue(kind="skipped", mdm_device_id=None, field="id", reason="record without an id")
        for i in range(n)
    )


@pytest.mark.rule("R-M14")
async def test_completed_run_shows_its_warnings_and_skipped_records(
    project: Project, client: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    run_id = uuid.uuid4()
    summary = sync_run_summary("acme", run_id, "completed", at=T0 + timedelta(minutes=1), seen=3, unchanged=3)
    summary = summary.model_copy(
        update={
            "counts": SyncRunCounts(seen=3, unchanged=3, skipped=1, warnings=1),
            "generation": 4,
            "issues": _issues(2),
        }
    )
    await project(summary)

    resp = await client.get(f"/v1/sync-runs/{run_id}")
    assert resp.status_code == 200, resp.text
    run = resp.json()
    assert run["status"] == "completed"
    assert run["generation"] == 4
    assert run["counts"]["skipped"] == 1 and run["counts"]["warnings"] == 1
    assert run["issues"] == [
        {"kind": "warning", "mdm_device_id": "mdm-0", "field": "enrolledDateTime", "reason": "not a date 0"},
        {"kind": "skipped", "mdm_device_id": None, "field": "id", "reason": "record without an id"},
    ]
    listed = (await client.get("/v1/sync-runs", params={"master_link_id": "ml-intune-1"})).json()["items"]
    mine = next(r for r in listed if r["sync_run_id"] == str(run_id))
    assert mine["counts"] == run["counts"] and mine["status"] == "completed" and "issues" not in mine
    # tenant isolation: another tenant never sees the run nor its issues
    assert (await globex.get(f"/v1/sync-runs/{run_id}")).status_code == 404
    theirs = (await globex.get("/v1/sync-runs")).json()["items"]
    assert str(run_id) not in {r["sync_run_id"] for r in theirs}


@pytest.mark.rule("R-M14")
async def test_a_thousand_issues_are_kept_in_order_and_a_later_summary_replaces_them(
    project: Project, client: httpx.AsyncClient
) -> None:
    run_id = uuid.uuid4()
    running = sync_run_summary("acme", run_id, "running", at=T0).model_copy(update={"issues": _issues(3)})
    done = sync_run_summary("acme", run_id, "completed", at=T0 + timedelta(minutes=2), seen=1000).model_copy(
        update={"issues": _issues(1000), "counts": SyncRunCounts(seen=1000, warnings=500, skipped=500)}
    )
    await project(running)
    assert len((await client.get(f"/v1/sync-runs/{run_id}")).json()["issues"]) == 3
    await project(done)
    run = (await client.get(f"/v1/sync-runs/{run_id}")).json()
    assert len(run["issues"]) == 1000
    assert [i["reason"] for i in run["issues"][:3]] == [
        "not a date 0",
        "record without an id",
        "not a date 2",
    ]
    # a redelivered older summary changes nothing: the terminal status and its issues stay
    await project(running)
    again = (await client.get(f"/v1/sync-runs/{run_id}")).json()
    assert again["status"] == "completed" and len(again["issues"]) == 1000


@pytest.mark.rule("R-M12")
async def test_refused_run_is_shown_refused_with_its_reason_never_failed(
    project: Project, client: httpx.AsyncClient
) -> None:
    run_id = uuid.uuid4()
    refused = sync_run_summary("acme", run_id, "completed", at=T0 + timedelta(minutes=3)).model_copy(
        update={
            "status": "refused",
            "generation": 1,
            "error": "generation 1 of master link ml-intune-1 was superseded by generation 2",
        }
    )
    await project(refused)
    run = (await client.get(f"/v1/sync-runs/{run_id}")).json()
    assert run["status"] == "refused"
    assert run["generation"] == 1
    assert "superseded" in run["error"]
    assert run["issues"] == []
    refused_list = (await client.get("/v1/sync-runs", params={"status": "refused"})).json()["items"]
    assert str(run_id) in {r["sync_run_id"] for r in refused_list}
    failed_list = (await client.get("/v1/sync-runs", params={"status": "failed"})).json()["items"]
    assert str(run_id) not in {r["sync_run_id"] for r in failed_list}
    # refused is terminal: a later "running" summary of the same run never revives it
    await project(sync_run_summary("acme", run_id, "running", at=T0 + timedelta(minutes=9)))
    assert (await client.get(f"/v1/sync-runs/{run_id}")).json()["status"] == "refused"


@pytest.mark.rule("R-M14")
async def test_a_run_through_the_reconciler_lists_its_warnings_and_skipped_records(
    client: httpx.AsyncClient, publish: Any, reconciler: Any
) -> None:
    """Snapshot messages as a connector sends them (one device kept with a field emptied, one
    record without an id skipped), through the real reconciler, to `GET /v1/sync-runs/{id}`."""
    from devstack.testing import wait_for
    from ledger_contracts import (
        DeviceObserved,
        MasterLinkSettings,
        MatchingKey,
        ObservedDevice,
        SyncRunCompleted,
        SyncRunStarted,
        codec,
        topics,
    )

    link = MasterLinkSettings(
        master_link_id="ml-intune-1",
        integration_id="int-intune-1",
        mdm_kind="intune",
        matching_key=MatchingKey(mdm="serial_number", ledger="serial_number"),
        asset_number_source="device_name",
    )
    warning = RecordIssue(
        kind="warning", mdm_device_id="m-1", field="enrolledDateTime", reason="not a date-time"
    )
    skipped = RecordIssue(kind="skipped", mdm_device_id=None, field="id", reason="record without an id")
    run_id = uuid.uuid4()
    events = [
        SyncRunStarted(tenant_id="acme", sync_run_id=run_id, master_link=link),
        DeviceObserved(
            tenant_id="acme",
            sync_run_id=run_id,
            integration_id="int-intune-1",
            device=ObservedDevice(mdm_device_id="m-1", serial_number="SN-W1", device_name="PC-W1"),
            warnings=(warning,),
        ),
        SyncRunCompleted(
            tenant_id="acme",
            sync_run_id=run_id,
            integration_id="int-intune-1",
            devices_observed=1,
            devices_skipped=1,
            skipped=(skipped,),
            devices_with_warnings=1,
        ),
    ]
    for event in events:
        key, value = codec.encode(event)
        await publish.producer.send_and_wait(publish.topic(topics.SNAPSHOTS), value=value, key=key)

    async def completed() -> dict[str, Any] | None:
        resp = await client.get(f"/v1/sync-runs/{run_id}")
        return resp.json() if resp.status_code == 200 and resp.json()["status"] == "completed" else None

    run = await wait_for(completed, timeout=60)
    assert run["counts"]["created"] == 1
    assert (run["counts"]["skipped"], run["counts"]["warnings"]) == (1, 1)
    assert {(i["kind"], i["mdm_device_id"], i["field"]) for i in run["issues"]} == {
        ("warning", "m-1", "enrolledDateTime"),
        ("skipped", None, "id"),
    }
