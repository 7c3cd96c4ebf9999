"""Generated Jamf fleets: fast, deterministic, and carrying the quirks real tenants have."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdm_sim.jamf import generate_computers, generate_mobiles, load_file

pytestmark = pytest.mark.unit


def test_same_seed_same_fleet_other_seed_other_fleet() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert generate_computers(50, seed=4, now=now) == generate_computers(50, seed=4, now=now)
    assert generate_mobiles(50, seed=4, now=now) == generate_mobiles(50, seed=4, now=now)
    assert generate_computers(50, seed=4, now=now) != generate_computers(50, seed=5, now=now)


def test_computer_7_and_mobile_7_both_exist() -> None:
    computers, mobiles = generate_computers(20), generate_mobiles(20)
    assert "7" in {c["id"] for c in computers} and "7" in {m["mobileDeviceId"] for m in mobiles}


def test_ids_are_unique_strings_with_gaps_like_deleted_records() -> None:
    ids = [int(c["id"]) for c in generate_computers(3000, seed=1)]
    assert len(set(ids)) == 3000 and ids == sorted(ids)
    assert ids[-1] > 3000  # some ids were skipped


def test_quirks_are_present() -> None:
    computers, mobiles = generate_computers(5000, seed=1), generate_mobiles(5000, seed=1)
    for fleet in (computers, mobiles):
        serials = [r["hardware"]["serialNumber"] for r in fleet]
        assert any(s in (None, "", "Not Available") or (s and not s.strip()) for s in serials)  # missing
        real = Counter(s for s in serials if s and s.strip() and s != "Not Available")
        assert any(n > 1 for n in real.values())  # duplicate serial after re-enrollment
        tags = Counter(r["general"]["assetTag"] for r in fleet if r["general"]["assetTag"])
        assert any(n > 1 for n in tags.values())  # colliding asset tags
        assert any(len(t) == 2 and t[0].isdigit() for t in tags)  # short tags like "1A"
        assert any(r["general"]["assetTag"] in (None, "") for r in fleet)
    assert {c["hardware"]["model"].split(" (")[0] for c in computers} >= {
        "MacBook Air",
        "MacBook Pro",
        "iMac",
    }
    assert all(
        any(p["partitionType"] == "BOOT" for d in c["storage"]["disks"] for p in d["partitions"])
        for c in computers
    )
    idents = {m["hardware"]["modelIdentifier"].rstrip("0123456789,") for m in mobiles}
    assert idents >= {"iPad", "iPhone", "AppleTV"}
    assert {m["general"]["osVersion"].split(".")[0] for m in mobiles} >= {"17", "18"}


def test_re_enrolled_duplicate_is_the_newer_record() -> None:
    computers = generate_computers(3000, seed=1)
    first_seen: dict[str, int] = {}
    duplicates = []
    for c in computers:
        serial = c["hardware"]["serialNumber"]
        if serial and serial.strip() and serial != "Not Available":
            if serial in first_seen:
                duplicates.append((first_seen[serial], int(c["id"])))
            first_seen.setdefault(serial, int(c["id"]))
    assert len(duplicates) >= 10  # the fleet does hold re-enrolled devices (about 1 %)
    assert all(newer > older for older, newer in duplicates)


@pytest.mark.integration  # writes files
def test_load_file_takes_a_page_or_an_array(tmp_path: Path) -> None:
    records = generate_computers(3)
    page, array, bad = tmp_path / "page.json", tmp_path / "array.json", tmp_path / "bad.json"
    page.write_text(json.dumps({"totalCount": 3, "results": records}))
    array.write_text(json.dumps(records))
    bad.write_text(json.dumps({"totalCount": 1, "results": [1]}))
    assert load_file(page) == records == load_file(array)
    with pytest.raises(ValueError, match="expected a JSON array"):
        load_file(bad)
