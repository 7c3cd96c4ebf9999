"""End to end for Jamf Pro: Jamf simulator -> jamf-connector -> Tansu -> reconciler -> PostgreSQL ->
ledger API (issue 3's acceptance: R-J1, R-J2, R-J3, and (kind, id) identity)."""

from __future__ import annotations

import copy
import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e
LINK = "ml-jamf-demo"
SAMPLES = Path(__file__).parents[2] / "services/jamf-connector/tests/samples"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e-jamf")) / "stack",
        intune_devices=0,
        jamf_computers=20,
        jamf_mobiles=10,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def sim(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    info = stack.sims["jamf"]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        r = c.request(method, f"/_sim{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None


def computer(cid: str, serial: str, asset_tag: str | None, name: str) -> dict[str, Any]:
    record = copy.deepcopy(
        json.loads((SAMPLES / "computers-inventory-v2-docs-example.json").read_text())["results"][0]
    )
    record["id"] = cid
    record["udid"] = str(uuid.uuid4()).upper()
    record["general"] |= {"name": name, "assetTag": asset_tag}
    record["hardware"]["serialNumber"] = serial
    return record


def mobile(mid: str, serial: str, name: str) -> dict[str, Any]:
    record = copy.deepcopy(
        json.loads((SAMPLES / "mobile-devices-detail-v2-partial.json").read_text())["results"][0]
    )
    record["mobileDeviceId"] = mid
    record["hardware"]["serialNumber"] = serial
    record["general"] |= {"udid": str(uuid.uuid4()).upper(), "displayName": name}
    return record


def sync(stack: Stack) -> dict[str, Any]:
    run = stack.wait_run(stack.sync(LINK)["sync_run_id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def find(stack: Stack, q: str) -> list[dict[str, Any]]:
    with stack.client() as c:
        return c.get("/v1/devices", params={"q": q, "limit": "100"}).raise_for_status().json()["items"]


@pytest.mark.rule("R-J2", "R-M3")
def test_first_sync_creates_computers_and_mobiles(stack: Stack) -> None:
    run = sync(stack)
    assert run["counts"]["seen"] == 30  # R-J2: both kinds
    assert stack.count_devices(source="jamf_pro") == run["counts"]["created"]
    again = sync(stack)
    assert again["counts"]["created"] == 0 and again["counts"]["updated"] == 0


@pytest.mark.rule("R-J1", "R-J2")
def test_computer_7_and_mobile_7_stay_two_devices(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    sim(stack, "POST", "/computers", computer("900007", f"C7{tag}", None, f"MAC-{tag}"))
    sim(stack, "POST", "/mobiles", mobile("900007", f"M7{tag}", f"IPAD-{tag}"))
    sync(stack)
    mac, ipad = find(stack, f"C7{tag}"), find(stack, f"M7{tag}")
    assert len(mac) == 1 and len(ipad) == 1
    assert mac[0]["device_id"] != ipad[0]["device_id"]
    with stack.client() as c:
        m = c.get(f"/v1/devices/{mac[0]['device_id']}").json()
        i = c.get(f"/v1/devices/{ipad[0]['device_id']}").json()
    assert m["binding"]["mdm_device_id"] == "computer:900007"
    assert i["binding"]["mdm_device_id"] == "mobile:900007"
    assert m["manufacturer"] == "Apple" and m["os"].startswith("macOS (")  # R-J1


@pytest.mark.rule("R-J3")
def test_asset_tag_collision_yields_sys_prefix(stack: Stack) -> None:
    tag = "E2E" + uuid.uuid4().hex[:5].upper()
    with stack.client() as c:
        r = c.post("/v1/devices", json={"asset_number": tag, "serial_number": "MANUAL-" + tag})
        assert r.status_code == 201, r.text
    sim(stack, "POST", "/computers", computer("900101", "SERIAL-" + tag, tag, "MAC-" + tag))
    sim(stack, "POST", "/computers", computer("900102", "SERIAL2-" + tag, tag, "MAC2-" + tag))
    sync(stack)
    numbers = sorted(d["asset_number"] for d in find(stack, tag))
    assert numbers == sorted([tag, f"SYS{tag}", f"SYS{tag}-2"])  # R-J3, deterministic chain
