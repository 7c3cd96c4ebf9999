"""End to end through real processes: Graph simulator -> intune-connector -> Tansu -> reconciler ->
PostgreSQL -> ledger API (issue 2's acceptance, SPEC R-I1, R-I2, R-I3, R-I6, R-M2, R-M4, R-M5)."""

from __future__ import annotations

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
LINK = "ml-intune-demo"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e")) / "stack",
        intune_devices=30,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def sim(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    info = stack.sims["intune"]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        r = c.request(method, f"/_sim{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None


def sync(stack: Stack) -> dict[str, Any]:
    run = stack.wait_run(stack.sync(LINK)["sync_run_id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def find(stack: Stack, q: str) -> list[dict[str, Any]]:
    with stack.client() as c:
        return c.get("/v1/devices", params={"q": q, "limit": "100"}).raise_for_status().json()["items"]


def detail(stack: Stack, device_id: str) -> dict[str, Any]:
    with stack.client() as c:
        return c.get(f"/v1/devices/{device_id}").raise_for_status().json()


def add_sim_device(stack: Stack, **fields: Any) -> dict[str, Any]:
    base = {
        "id": str(uuid.uuid4()),
        "deviceName": "E2E-" + uuid.uuid4().hex[:6],
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.1",
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7440",
        "emailAddress": "alice@example.com",
        "userPrincipalName": "alice@example.com",
        "serialNumber": "E2E-" + uuid.uuid4().hex[:8].upper(),
        "enrolledDateTime": "2026-01-05T09:00:00Z",
        "lastSyncDateTime": "2026-11-25T23:00:00Z",
        "totalStorageSpaceInBytes": 512_000_000_000,
        "deviceRegistrationState": "registered",
    }
    return sim(stack, "POST", "/devices", base | fields)


def create_manual(stack: Stack, **fields: Any) -> dict[str, Any]:
    with stack.client() as c:
        r = c.post("/v1/devices", json=fields)
        assert r.status_code == 201, r.text
        return r.json()


def test_second_identical_sync_makes_no_changes(stack: Stack) -> None:
    sync(stack)
    with stack.client() as c:
        before = c.get("/v1/devices", params={"limit": "1000"}).json()["items"]
    second = sync(stack)
    counts = second["counts"]
    assert counts["created"] == 0 and counts["updated"] == 0
    assert counts["unchanged"] + counts["conflicts"] == counts["seen"] > 0
    with stack.client() as c:
        after = c.get("/v1/devices", params={"limit": "1000"}).json()["items"]
    assert after == before


@pytest.mark.rule("R-I2", "R-I3", "R-I6", "R-M11", "R-E1", "R-E2", "R-E3")
def test_mdm_first_fields_are_written_ledger_first_are_not(stack: Stack) -> None:
    dev = add_sim_device(stack)
    sync(stack)
    (ledger,) = find(stack, dev["serialNumber"])
    assert ledger["os"] == "Windows (10.0.22631.1)" and ledger["manufacturer"] == "Dell Inc."
    sim(
        stack,
        "PUT",
        f"/devices/{dev['id']}",
        {"osVersion": "10.0.26100.2", "emailAddress": "bob@example.com", "manufacturer": "LENOVO"},
    )
    run = sync(stack)
    assert run["counts"]["updated"] >= 1
    after = detail(stack, ledger["device_id"])
    assert after["os"] == "Windows (10.0.26100.2)"  # R-I2 MDM-first
    assert after["assigned_user"] == "bob@example.com"  # R-I6 MDM-first
    assert after["manufacturer"] == "Dell Inc."  # R-I3 ledger-first: the ledger had a value
    with stack.client() as c:
        history = c.get(f"/v1/devices/{ledger['device_id']}/history").raise_for_status().json()["items"]
    os_change = next(
        ch
        for entry in history
        for ch in entry["changes"]
        if ch["field"] == "os" and ch["after"].endswith(".2)")
    )
    assert os_change["rule"] == "mdm_first"


@pytest.mark.rule("R-I1", "R-M5")
def test_serial_zero_is_stored_empty_and_never_matched(stack: Stack) -> None:
    manual = create_manual(stack, asset_number="E2E-ZERO-" + uuid.uuid4().hex[:6], serial_number="0")
    dev = add_sim_device(stack, serialNumber="0", deviceName="E2E-ZERO-PC-" + uuid.uuid4().hex[:6])
    sync(stack)
    (synced,) = find(stack, dev["deviceName"])
    assert synced["serial_number"] is None  # R-I1
    assert synced["device_id"] != manual["device_id"]  # R-M5: "0" matched nothing
    still = detail(stack, manual["device_id"])
    assert still["source"] == "manual" and still.get("binding") is None


@pytest.mark.rule("R-M2", "R-M4", "R-I8")
def test_matched_by_serial_becomes_bound_and_is_not_duplicated_after_edit(stack: Stack) -> None:
    serial = "E2E-BIND-" + uuid.uuid4().hex[:8].upper()
    manual = create_manual(stack, asset_number="E2E-" + serial, serial_number=serial, manufacturer="HP")
    dev = add_sim_device(stack, serialNumber=serial)
    sync(stack)
    bound = detail(stack, manual["device_id"])
    assert bound["source"] == "intune"  # R-M2
    assert bound["binding"]["mdm_device_id"] == dev["id"]
    assert bound["mdm"]["device_name"] == dev["deviceName"]  # R-I8
    assert bound["manufacturer"] == "HP"  # ledger-first
    assert len(find(stack, serial)) == 1
    with stack.client() as c:
        r = c.patch(f"/v1/devices/{manual['device_id']}", json={"serial_number": serial + "-EDITED"})
        assert r.status_code == 200, r.text
    sync(stack)
    matches = find(stack, serial)  # finds the edited serial too (prefix search)
    assert [m["device_id"] for m in matches] == [manual["device_id"]]  # R-M4: no duplicate
    assert detail(stack, manual["device_id"])["serial_number"] == serial + "-EDITED"


@pytest.mark.rule("R-S6")
def test_bound_device_cannot_be_deleted_by_hand(stack: Stack) -> None:
    dev = add_sim_device(stack)
    sync(stack)
    (ledger,) = find(stack, dev["serialNumber"])
    with stack.client() as c:
        r = c.delete(f"/v1/devices/{ledger['device_id']}")
    assert r.status_code == 409  # R-S6
    assert r.json()["error"]["code"] == "device_bound"
