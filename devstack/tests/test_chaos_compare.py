"""The chaos comparison sees every kind of difference it claims to (so a green chaos run means
something): lost, extra and changed devices, other run counts, other conflicts, clashing events."""

from __future__ import annotations

import copy

import pytest

from devstack.chaos import Outcome, _strip, compare, identity

pytestmark = pytest.mark.unit

DEVICE = {
    "device_id": "d-1",
    "version": 3,
    "source": "intune",
    "serial_number": "S1",
    "binding": {"integration_id": "int-1", "mdm_kind": "intune", "mdm_device_id": "m-1"},
    "os": "Windows (10)",
    "created_at": "2026-01-01T00:00:00Z",
}


def outcome() -> Outcome:
    ids = {"d-1": identity(DEVICE)}
    return Outcome(
        devices={identity(DEVICE): _strip(DEVICE, ids)},
        runs=[("first sync", "completed", {"seen": 1, "created": 1})],
        conflicts=['{"rule": "R-M9"}'],
        change_clashes=[],
    )


def test_the_same_outcome_has_no_differences_and_volatile_fields_are_ignored() -> None:
    other = outcome()
    moved = dict(DEVICE, device_id="d-9", created_at="2027-01-01T00:00:00Z")
    other.devices = {identity(moved): _strip(moved, {"d-9": identity(moved)})}
    assert compare(outcome(), other) == []


def test_every_kind_of_difference_is_reported() -> None:
    ref = outcome()
    lost = copy.deepcopy(ref)
    lost.devices = {}
    assert compare(ref, lost) == ["lost device bound int-1 m-1"]
    assert compare(lost, ref) == ["extra device bound int-1 m-1"]
    changed = copy.deepcopy(ref)
    changed.devices[identity(DEVICE)]["os"] = "Windows (11)"
    assert compare(ref, changed) == ["device bound int-1 m-1: os 'Windows (10)' != 'Windows (11)'"]
    counts = copy.deepcopy(ref)
    counts.runs = [("first sync", "completed", {"seen": 2, "created": 1})]
    assert compare(ref, counts)[0].startswith("run first sync:")
    conflicts = copy.deepcopy(ref)
    conflicts.conflicts = []
    assert compare(ref, conflicts)[0] == "conflicts differ: 1 only in the clean run, 0 only here"
    clash = copy.deepcopy(ref)
    clash.change_clashes = ["d-1 v2: 2 different events"]
    assert compare(ref, clash) == ["change events clash: d-1 v2: 2 different events"]


def test_a_device_named_by_a_conflict_is_named_by_identity_not_by_id() -> None:
    ids = {"d-1": "bound int-1 m-1"}
    assert _strip({"resolved_device_id": "d-1", "conflict_id": "c"}, ids) == {"resolved_device": ids["d-1"]}
