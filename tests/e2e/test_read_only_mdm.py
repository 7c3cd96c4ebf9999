"""R-M6 proved end to end: a first sync and a re-sync of both MDMs through the whole stack send the
simulated MDMs no request that could change them (anything but GET/HEAD, token requests aside)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = [pytest.mark.e2e, pytest.mark.rule("R-M6")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("rm6")) / "stack",
        intune_devices=300,
        jamf_computers=120,
        jamf_mobiles=60,
        shared_macs=10,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def requests_seen(stack: Stack, mdm: str) -> dict[str, Any]:
    info = stack.sims[mdm]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        return dict(c.get("/_sim/requests").raise_for_status().json())


def test_R_M6_syncs_only_read_from_both_mdms(stack: Stack) -> None:
    for _ in range(2):  # a first sync, then a re-sync
        for link in stack.links:
            run = stack.wait_run(stack.sync(link["master_link_id"])["sync_run_id"], timeout=120)
            assert run["status"] == "completed", run
    for mdm in ("intune", "jamf"):
        seen = requests_seen(stack, mdm)
        assert seen["reads"] > 0 and seen["token_requests"] > 0, seen  # the count can see traffic
        assert seen["writes"] == 0, f"{mdm}: the ledger sent requests that could change the MDM: {seen}"
