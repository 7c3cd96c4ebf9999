"""R-A2/R-M12: a settings plan whose dry run ended without a plan — `refused` (superseded by a
newer generation) or `failed` — shows that state with the run's error, and apply answers 409 naming
it. Before, a refused dry run left its plan "planning" forever."""

from __future__ import annotations

import uuid

import pytest
from ledger_api_testing import T0, sync_run_summary

from ledger_contracts import SyncRunCounts, SyncRunSummary

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-A2")]
PLAN = "/v1/master-links/ml-intune-1/settings/plan"
APPLY = "/v1/master-links/ml-intune-1/settings/apply"
WHY = "superseded: the master link is at generation 3, this run was requested at generation 2"


def refused(run_id: uuid.UUID) -> SyncRunSummary:
    return SyncRunSummary(
        tenant_id="acme",
        sync_run_id=run_id,
        master_link_id="ml-intune-1",
        integration_id="int-intune-1",
        status="refused",
        counts=SyncRunCounts(),
        started_at=T0,
        finished_at=T0,
        occurred_at=T0,
        error=WHY,
    )


@pytest.mark.parametrize(("status", "why"), [("refused", WHY), ("failed", "pull failed")])
async def test_a_plan_whose_dry_run_ended_without_a_plan_says_so(client, project, error, status, why) -> None:
    plan = (await client.post(PLAN, json={"asset_number_source": "uuid"})).json()
    assert plan["status"] == "planning"
    run_id = uuid.UUID(plan["plan_id"])
    await project(refused(run_id) if status == "refused" else sync_run_summary("acme", run_id, "failed"))

    shown = (await client.get(f"/v1/master-links/ml-intune-1/settings/plans/{plan['plan_id']}")).json()
    assert shown["status"] == status
    assert shown["sync_run"]["status"] == status and shown["sync_run"]["error"] == why

    err = error(await client.post(APPLY, json={"plan_id": plan["plan_id"]}), 409, "plan_not_ready")
    assert err["details"]["status"] == status and err["details"]["sync_run_error"] == why
    assert f"its dry run was {status}: {why}" in err["message"]
    link = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert link["asset_number_source"] != "uuid"  # nothing applied
