"""The generated tenant holds every quirk real Intune data has (research notes §2, §6)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mdm_sim.graph import DeviceStore, generate_devices, load_devices_file
from mdm_sim.graph.generate import PLACEHOLDER_SERIALS, TEMPLATE

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def devices() -> list[dict]:
    return generate_devices(20_000, seed=11)


def test_same_seed_same_devices_other_seed_other_devices() -> None:
    assert generate_devices(500, seed=3) == generate_devices(500, seed=3)
    assert generate_devices(500, seed=3) != generate_devices(500, seed=4)


def test_ids_unique_and_every_v1_property_present(devices: list[dict]) -> None:
    assert len({d["id"] for d in devices}) == len(devices)
    assert all(set(TEMPLATE) <= set(d) for d in devices)


def test_platform_mix(devices: list[dict]) -> None:
    by_os = Counter(d["operatingSystem"] for d in devices)
    assert {"Windows", "macOS", "iOS", "Android"} <= set(by_os)
    assert by_os["Windows"] > len(devices) * 0.4
    manufacturers = {d["manufacturer"] for d in devices}
    assert {
        "Dell Inc.",
        "LENOVO",
        "HP",
        "Apple",
        "samsung",
        "Microsoft Corporation",
        "VMware, Inc.",
    } <= manufacturers


def test_the_quirks_are_all_there(devices: list[dict]) -> None:
    serials = Counter(d["serialNumber"] for d in devices)
    assert set(PLACEHOLDER_SERIALS) <= set(serials)
    assert any(s.startswith("VMware-") for s in serials)
    assert any(s.startswith("0000-") and len(s) == 32 for s in serials)  # Cloud PC
    userless = [d for d in devices if d["userPrincipalName"] == ""]
    assert userless and all(d["emailAddress"] == "" and d["userId"] == "" for d in userless)
    assert any(d["emailAddress"] == "" and d["userPrincipalName"] for d in devices)
    assert any(d["totalStorageSpaceInBytes"] == 0 for d in devices)
    assert any(d["enrolledDateTime"] == "0001-01-01T00:00:00Z" for d in devices)
    assert any(d["lastSyncDateTime"] == "0001-01-01T00:00:00Z" for d in devices)
    assert all(d["complianceGracePeriodExpirationDateTime"] == "9999-12-31T23:59:59Z" for d in devices)
    assert any(len(d["enrolledDateTime"]) == len("2024-01-01T00:00:00.1234567Z") for d in devices)
    assert any(d["deviceRegistrationState"] == "unknownFutureValue" for d in devices)


def test_re_enrolled_duplicates_share_serial_and_name_with_a_new_id(devices: list[dict]) -> None:
    by_pair = Counter(
        (d["serialNumber"], d["deviceName"]) for d in devices if d["serialNumber"] not in ("", "0")
    )
    dup_pairs = [
        pair for pair, n in by_pair.items() if n > 1 and pair[0].startswith(("PF", "5CG", "R5", "VMware"))
    ]
    assert len(dup_pairs) > 50


@pytest.mark.integration  # writes files
def test_load_devices_file_accepts_pages_arrays_and_single_objects(tmp_path: Path) -> None:
    device = {"id": "a", "deviceName": "x", "@odata.context": "quirk"}
    (tmp_path / "page.json").write_text(json.dumps({"@odata.count": 1, "value": [device]}))
    (tmp_path / "array.json").write_text(json.dumps([device]))
    (tmp_path / "one.json").write_text(json.dumps(device))
    for name in ("page.json", "array.json", "one.json"):
        assert load_devices_file(tmp_path / name) == [{"id": "a", "deviceName": "x"}]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected"):
        load_devices_file(tmp_path / "bad.json")


def test_store_pages_by_keyset_on_device_name_then_id() -> None:
    store = DeviceStore(
        [{"id": "3", "deviceName": "b"}, {"id": "2", "deviceName": "a"}, {"id": "1", "deviceName": "b"}]
    )
    start, first, last = store.page(None, 2)
    assert (start, [d["id"] for d in first], last) == (0, ["2", "1"], ("b", "1"))
    start, second, last = store.page(("b", "1"), 2)
    assert (start, [d["id"] for d in second], last) == (2, ["3"], None)
    store.patch("2", {"deviceName": "c"})  # a rename moves the device behind the cursor
    assert [d["id"] for d in store.page(("b", "1"), 2)[1]] == ["3", "2"]
