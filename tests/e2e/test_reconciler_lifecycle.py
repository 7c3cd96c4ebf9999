"""End to end through real processes (Graph simulator -> intune-connector -> broker -> reconciler ->
PostgreSQL -> ledger API), issue 4: missing devices (R-M10), re-enrollment, conflicts (R-M9),
dry run, unlink keep/delete (R-S4, R-S5).

The API has no endpoint yet for conflicts, resolutions or unlink: those tests read
`ledger.changes.v1` and publish commands to `ledger.commands.v1` directly, as the API will.
The unlink test runs last: it removes the link's devices from the ledger.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.kafka_io import publish, read_topic
from devstack.stack import INTUNE_INTEGRATION, TENANT, Stack, StackConfig
from devstack.testing import poll_until
from ledger_contracts import Event, ResolveConflict, UnlinkMasterLink, codec, topics

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


def sim(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    info = stack.sims["intune"]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False) as c:
        r = c.request(method, f"/_sim{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None


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


def sync(stack: Stack, **body: Any) -> dict[str, Any]:
    with stack.client() as c:
        requested = c.post(f"/v1/master-links/{LINK}/sync", json=body).raise_for_status().json()
    run = stack.wait_run(requested["sync_run_id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def api(stack: Stack, path: str, **params: str) -> Any:
    with stack.client() as c:
        return c.get(path, params=params).raise_for_status().json()


def by_serial(stack: Stack, serial: str) -> dict[str, Any]:
    (device,) = api(stack, "/v1/devices", q=serial, limit="10")["items"]
    return api(stack, f"/v1/devices/{device['device_id']}")


def changes(stack: Stack) -> list[Any]:
    assert stack.broker is not None
    topic = topics.named(topics.CHANGES, stack.config.topic_prefix)
    return asyncio.run(read_topic(stack.broker.bootstrap_servers, topic, codec.change_adapter))


def send_command(stack: Stack, command: Event) -> None:
    assert stack.broker is not None
    topic = topics.named(topics.COMMANDS, stack.config.topic_prefix)
    asyncio.run(publish(stack.broker.bootstrap_servers, topic, [command]))


@pytest.mark.rule("R-M10")
def test_a_device_gone_from_the_mdm_is_marked_missing_and_unmarked_when_back(stack: Stack) -> None:
    dev = add_sim_device(stack)
    sync(stack)
    device = by_serial(stack, dev["serialNumber"])
    assert device["missing_from_mdm"] is False
    sim(stack, "DELETE", f"/devices/{dev['id']}")
    run = sync(stack)
    assert run["counts"]["missing"] >= 1
    gone = api(stack, f"/v1/devices/{device['device_id']}")
    assert gone["missing_from_mdm"] is True  # R-M10: marked, never deleted
    assert gone["last_seen_at"] is not None and gone["binding"]["mdm_device_id"] == dev["id"]
    missing = api(stack, "/v1/devices", missing_from_mdm="true", limit="1000")["items"]
    assert device["device_id"] in {d["device_id"] for d in missing}
    sim(stack, "POST", "/devices", dev)  # back in the MDM
    sync(stack)
    assert api(stack, f"/v1/devices/{device['device_id']}")["missing_from_mdm"] is False


def test_a_reenrolled_device_keeps_its_ledger_id_and_follows_the_new_mdm_id(stack: Stack) -> None:
    old = add_sim_device(stack)
    sync(stack)
    device = by_serial(stack, old["serialNumber"])
    sim(stack, "DELETE", f"/devices/{old['id']}")  # wiped and enrolled again: a new Intune id
    new = add_sim_device(stack, serialNumber=old["serialNumber"], osVersion="10.0.26100.1")
    run = sync(stack)
    after = api(stack, f"/v1/devices/{device['device_id']}")
    assert after["binding"]["mdm_device_id"] == new["id"]
    assert after["os"] == "Windows (10.0.26100.1)" and after["missing_from_mdm"] is False
    assert len(api(stack, "/v1/devices", q=old["serialNumber"])["items"]) == 1  # no duplicate
    history = api(stack, f"/v1/devices/{device['device_id']}/history")["items"]
    moves = [
        (ch["before"], ch["after"], ch["rule"])
        for e in history
        for ch in e["changes"]
        if ch["field"] == "binding"
    ]
    assert (old["id"], new["id"], "binding") in moves
    resolved = [
        e
        for e in changes(stack)
        if e.type == "conflict_resolved" and e.device_id == uuid.UUID(device["device_id"])
    ]
    assert [e.resolution for e in resolved] == ["auto_reenrolled"]
    assert run["counts"]["conflicts"] >= 1


@pytest.mark.rule("R-M9")
def test_an_ambiguous_serial_is_a_conflict_until_a_person_links_it(stack: Stack) -> None:
    serial = "E2E-TWIN-" + uuid.uuid4().hex[:6].upper()
    twins = []
    with stack.client() as c:
        for n in range(2):
            r = c.post("/v1/devices", json={"serial_number": serial, "asset_number": f"{serial}-{n}"})
            assert r.status_code == 201, r.text
            twins.append(r.json()["device_id"])
    dev = add_sim_device(stack, serialNumber=serial)
    sync(stack)
    recorded = [e for e in changes(stack) if e.type == "conflict_recorded" and e.mdm_device_id == dev["id"]]
    assert len(recorded) == 1 and sorted(map(str, recorded[0].candidates)) == sorted(twins)
    assert all(api(stack, f"/v1/devices/{t}")["source"] == "manual" for t in twins)  # nothing merged
    sync(stack)
    assert (
        len([e for e in changes(stack) if e.type == "conflict_recorded" and e.mdm_device_id == dev["id"]])
        == 1
    )
    send_command(
        stack,
        ResolveConflict(
            tenant_id=TENANT,
            conflict_id=recorded[0].conflict_id,
            resolution="link",
            device_id=uuid.UUID(twins[1]),
        ),
    )
    linked = poll_until(lambda: (d := api(stack, f"/v1/devices/{twins[1]}"))["source"] == "intune" and d)
    assert linked["binding"]["mdm_device_id"] == dev["id"]


def test_a_dry_run_reports_the_diff_and_changes_nothing(stack: Stack) -> None:
    dev = add_sim_device(stack)
    sync(stack)
    device = by_serial(stack, dev["serialNumber"])
    sim(stack, "PUT", f"/devices/{dev['id']}", {"osVersion": "10.0.99999.9"})
    run = sync(stack, dry_run=True)
    assert run["dry_run"] is True and run["counts"]["updated"] >= 1
    assert api(stack, f"/v1/devices/{device['device_id']}")["os"] == "Windows (10.0.22631.1)"  # unchanged
    plans = [
        e for e in changes(stack) if e.type == "dry_run_planned" and str(e.sync_run_id) == run["sync_run_id"]
    ]
    items = [i for p in plans for i in p.items if i.device_id == uuid.UUID(device["device_id"])]
    assert [(c.field, c.after) for i in items for c in i.changes] == [("os", "Windows (10.0.99999.9)")]
    sync(stack)  # a real run applies what the dry run planned
    assert api(stack, f"/v1/devices/{device['device_id']}")["os"] == "Windows (10.0.99999.9)"


@pytest.mark.rule("R-S4", "R-S5")
def test_unlink_keeps_devices_as_manual_then_a_second_unlink_deletes_them(stack: Stack) -> None:
    dev = add_sim_device(stack)
    sync(stack)
    device = by_serial(stack, dev["serialNumber"])
    unlink = {"tenant_id": TENANT, "master_link_id": LINK, "integration_id": INTUNE_INTEGRATION}
    send_command(stack, UnlinkMasterLink(keep_devices=True, **unlink))
    poll_until(lambda: not api(stack, "/v1/devices", source="intune", limit="1000")["items"])
    kept = api(stack, f"/v1/devices/{device['device_id']}")
    assert kept["source"] == "manual" and kept["binding"] is None and not kept.get("mdm")  # R-S4
    assert kept["serial_number"] == dev["serialNumber"]
    sync(stack)  # linked again: the kept devices match by serial and are bound once more
    assert api(stack, f"/v1/devices/{device['device_id']}")["source"] == "intune"
    send_command(stack, UnlinkMasterLink(keep_devices=False, **unlink))
    poll_until(lambda: not api(stack, "/v1/devices", source="intune", limit="1000")["items"])
    with stack.client() as c:
        assert c.get(f"/v1/devices/{device['device_id']}").status_code == 404  # R-S5
