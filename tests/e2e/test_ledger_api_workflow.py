"""End to end through real processes (Graph simulator -> intune-connector -> broker -> reconciler ->
PostgreSQL -> ledger API), issue 5 part B and issue 4 on the API side: custom fields and CSV
(R-C1–R-C4, R-M8), conflicts resolved over HTTP (R-M9), a dry run's plan, and `ledger-api replay`
rebuilding the running API's tables (R-E4)."""

from __future__ import annotations

import csv
import io
import os
import ssl
import subprocess
import sys
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
        intune_devices=20,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def add_sim_device(stack: Stack, **fields: Any) -> dict[str, Any]:
    info = stack.sims["intune"]
    body = {
        "id": str(uuid.uuid4()),
        "deviceName": "E2E-" + uuid.uuid4().hex[:6],
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.1",
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7440",
        "emailAddress": "alice@example.com",
        "serialNumber": "E2E-" + uuid.uuid4().hex[:8].upper(),
        "enrolledDateTime": "2026-01-05T09:00:00Z",
        "lastSyncDateTime": "2026-11-25T23:00:00Z",
        "totalStorageSpaceInBytes": 512_000_000_000,
        "deviceRegistrationState": "registered",
    } | fields
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        c.post("/_sim/devices", json=body).raise_for_status()
    return body


def sync(stack: Stack, **body: Any) -> dict[str, Any]:
    with stack.client() as c:
        requested = c.post(f"/v1/master-links/{LINK}/sync", json=body).raise_for_status().json()
    run = stack.wait_run(requested["sync_run_id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def upload(c: httpx.Client, path: str, text: str) -> httpx.Response:
    return c.post(path, content=text.encode(), headers={"content-type": "text/csv"})


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.rule("R-C1", "R-C2", "R-C3", "R-C4", "R-M8")
def test_custom_fields_and_a_csv_import_export_through_the_services(stack: Stack) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    with stack.client() as c:
        assert c.post(
            "/v1/custom-fields", json={"name": "cost_center", "type": "text", "required": True}
        ).is_success
        assert c.post("/v1/custom-fields", json={"name": "price", "type": "number"}).is_success
        bad = f"asset_number,custom_cost_center,custom_price\nCSV-{tag}-1,IT,10\nCSV-{tag}-2,IT,ten\n"
        resp = upload(c, "/v1/devices/import", bad)
        assert resp.status_code == 422 and resp.json()["error"]["details"][0]["row"] == 3, resp.text
        assert c.get("/v1/devices", params={"q": f"csv-{tag}"}).json()["items"] == []  # nothing written
        good = f"asset_number,serial_number,custom_cost_center,custom_price\nCSV-{tag}-1,SN-{tag},IT,10.0\n"
        resp = upload(c, "/v1/devices/import", good)
        assert resp.status_code == 200 and resp.json()["created"] == 1, resp.text
    dev = add_sim_device(stack, serialNumber=f"SN-{tag}")
    sync(stack)  # binds the imported device (R-M2) and creates the others without cost_center (R-M8)
    with stack.client() as c:
        exported = rows(c.get("/v1/devices/export.csv").raise_for_status().text)
        mine = next(r for r in exported if r["asset_number"] == f"CSV-{tag}-1")
        assert (mine["source"], mine["binding_mdm_device_id"], mine["mdm_device_name"]) == (
            "intune",
            dev["id"],
            dev["deviceName"],
        )
        assert (mine["custom_cost_center"], mine["custom_price"]) == ("IT", "10")
        assert any(r["source"] == "intune" and r["custom_cost_center"] == "" for r in exported)
        history = c.get(f"/v1/devices/{mine['device_id']}/history").json()["items"]
        assert [h["provenance"]["actor"] for h in history] == ["sync", "csv"]
        usage = f"asset_number,user,from,to\nCSV-{tag}-1,alice@example.com,2025-04-01,\n"
        assert upload(c, "/v1/usage-history/import", usage).json()["periods"] == 1
        assert f"CSV-{tag}-1,alice@example.com,2025-04-01," in c.get("/v1/usage-history/export.csv").text


@pytest.mark.rule("R-M9")
def test_a_conflict_is_listed_and_resolved_over_http(stack: Stack) -> None:
    serial = "E2E-TWIN-" + uuid.uuid4().hex[:6].upper()
    with stack.client() as c:
        twins = [
            c.post(
                "/v1/devices",
                json={
                    "serial_number": serial,
                    "asset_number": f"{serial}-{n}",
                    "custom_fields": {"cost_center": "X"},
                },
            )
            .raise_for_status()
            .json()["device_id"]
            for n in range(2)
        ]
    dev = add_sim_device(stack, serialNumber=serial)
    run = sync(stack)
    with stack.client() as c:
        [conflict] = [
            x
            for x in c.get("/v1/conflicts", params={"status": "open"}).json()["items"]
            if x["mdm_device_id"] == dev["id"]
        ]
        assert conflict["sync_run_id"] == run["sync_run_id"]
        assert sorted(x["device_id"] for x in conflict["candidates"]) == sorted(twins)
        resp = c.post(
            f"/v1/conflicts/{conflict['conflict_id']}/resolve",
            json={"resolution": "link", "device_id": twins[0]},
        )
        assert resp.status_code == 200 and resp.json()["resolved_device_id"] == twins[0], resp.text
        linked = c.get(f"/v1/devices/{twins[0]}").json()
        assert linked["binding"]["mdm_device_id"] == dev["id"] and linked["source"] == "intune"


def test_a_dry_run_plan_is_served(stack: Stack) -> None:
    dev = add_sim_device(stack)
    run = sync(stack, dry_run=True)
    with stack.client() as c:
        plan = c.get(f"/v1/sync-runs/{run['sync_run_id']}/plan", params={"action": "create"}).json()
        assert dev["id"] in {i["mdm_device_id"] for i in plan["items"]}
        assert c.get("/v1/devices", params={"q": dev["serialNumber"]}).json()["items"] == []


@pytest.mark.rule("R-E4")
def test_replay_rebuilds_the_running_apis_tables(stack: Stack) -> None:
    """Last: `ledger-api replay` against the live stack, first --verify, then the swap."""
    assert stack.broker is not None
    env = {
        **os.environ,
        "LEDGER_API_DATABASE_URL": stack.database_url,
        "LEDGER_API_KAFKA_BOOTSTRAP_SERVERS": stack.broker.bootstrap_servers,
        "LEDGER_API_TOPIC_PREFIX": stack.config.topic_prefix,
    }
    with stack.client() as c:
        before = c.get("/v1/devices/export.csv").text
    for args in (["--verify"], []):
        done = subprocess.run(
            [sys.executable, "-m", "ledger_api", "replay", *args], env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        assert b"differences from the live ledger: none" in done.stderr
    with stack.client() as c:
        assert c.get("/v1/devices/export.csv").text == before
    sync(stack)  # the projection goes on after the swap
    stack.check_alive()
