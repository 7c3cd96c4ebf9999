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
