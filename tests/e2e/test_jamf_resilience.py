"""Issue 3 through the broker and PostgreSQL: a 4,500-computer Jamf Pro whose OAuth tokens live one
second, that serves computers-inventory only up to v3 and pages at most 2000 — every device arrives
in the ledger exactly once."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e-jamf-res")) / "stack",
        intune_devices=0,
        jamf_computers=4500,
        jamf_mobiles=0,
        # v4 not served -> the connector falls back to v3; tokens expire mid-pull; pages are slowed
        # so the pull spans several token lifetimes.
        jamf_sim_args=["--versions", "v3,v2,v1", "--token-lifetime", "1", "--page-delay", "0.4"],
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def sim_stats(stack: Stack) -> dict[str, Any]:
    info = stack.sims["jamf"]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        return c.get("/_sim/stats").raise_for_status().json()


def test_4500_computers_v3_fallback_and_token_expiry_mid_pull(stack: Stack) -> None:
    run = stack.wait_run(stack.sync("ml-jamf-demo")["sync_run_id"], timeout=180)
    assert run["status"] == "completed", run
    counts = run["counts"]
    assert counts["seen"] == 4500 == run["reported_total"]
    # Every computer is either in the ledger once or an explained conflict (re-enrolled serials).
    assert stack.count_devices(source="jamf_pro") == counts["created"]
    assert counts["created"] + counts["conflicts"] == 4500
    stats = sim_stats(stack)
    assert stats.get("token.oauth", 0) >= 2  # the first token expired during the pull: re-minted
    log = (stack.config.root / "logs" / "jamf-connector.log").read_text()
    assert '"version": "v3"' in log  # v4 answered 404: the connector fell back
