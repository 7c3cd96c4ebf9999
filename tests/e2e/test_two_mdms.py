"""End to end, issue 11 "done when": Macs enrolled in both simulated MDMs (same serials, devstack
`shared_macs`) appear once each, with no conflict, bound to both MDMs, source = the priority MDM
(Jamf Pro for Apple devices once the priority says so), each field's origin shown; unlinking Jamf
with keep_devices=false deletes only the devices Intune does not report (R-P1–R-P4)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig
from devstack.testing import poll_until

pytestmark = pytest.mark.e2e
SHARED = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e")) / "stack",
        intune_devices=6,
        jamf_computers=3,
        jamf_mobiles=0,
        shared_macs=SHARED,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def devices(c: httpx.Client) -> list[dict[str, Any]]:
    items = c.get("/v1/devices", params={"limit": "1000"}).raise_for_status().json()["items"]
    return [c.get(f"/v1/devices/{d['device_id']}").raise_for_status().json() for d in items]


@pytest.mark.rule("R-P1", "R-P2", "R-P3", "R-P4")
def test_shared_macs_once_each_priority_then_unlink_jamf(stack: Stack) -> None:
    links = {link["mdm_kind"]: link["master_link_id"] for link in stack.links}
    intune = stack.wait_run(stack.sync(links["intune"])["sync_run_id"], timeout=180)
    jamf = stack.wait_run(stack.sync(links["jamf_pro"])["sync_run_id"], timeout=180)
    assert intune["status"] == jamf["status"] == "completed", (intune, jamf)
    seen_i, seen_j = intune["counts"]["seen"], jamf["counts"]["seen"]
    assert jamf["counts"]["conflicts"] == 0 and jamf["counts"]["updated"] == SHARED, jamf

    with stack.client() as c:
        all_devices = devices(c)
        assert len(all_devices) == seen_i + seen_j - SHARED  # each shared Mac once
        serials = [d["serial_number"] for d in all_devices]
        assert len(serials) == len(set(serials))
        shared = [d for d in all_devices if d["other_bindings"]]
        assert len(shared) == SHARED
        assert c.get("/v1/conflicts", params={"status": "open"}).json()["items"] == []
        for d in shared:  # default priority: Intune bound them first
            assert d["source"] == "intune" and d["other_bindings"][0]["binding"]["mdm_kind"] == "jamf_pro"
            assert d["field_origins"], d  # each field's origin shown

        integration = {d["binding"]["mdm_kind"]: d["binding"]["integration_id"] for d in shared[:1]}
        jamf_id = shared[0]["other_bindings"][0]["binding"]["integration_id"]
        body = {"order": [integration["intune"], jamf_id], "per_os_family": {"apple": [jamf_id]}}
        assert c.put("/v1/mdm-priority", json=body).status_code == 200

        def moved() -> bool:
            now = [c.get(f"/v1/devices/{d['device_id']}").json() for d in shared]
            return all(d["source"] == "jamf_pro" and d["binding"]["integration_id"] == jamf_id for d in now)

        poll_until(moved)

        gone = c.delete(f"/v1/master-links/{links['jamf_pro']}", params={"keep_devices": "false"})
        assert gone.status_code == 202, gone.text
    poll_until(lambda: stack.count_devices(source="jamf_pro") == 0)
    with stack.client() as c:
        left = devices(c)
        assert len(left) == seen_i  # only the devices Intune does not report were deleted
        ids = {d["device_id"] for d in left}
        assert {d["device_id"] for d in shared} <= ids
        assert all(d["source"] == "intune" and not d["other_bindings"] for d in left)
