"""Issue 11 data: Macs enrolled in both simulated MDMs carry the same serials, from one seed."""

from __future__ import annotations

import pytest

from mdm_sim.graph import GraphSimConfig
from mdm_sim.graph.app import initial_devices
from mdm_sim.shared import graph_devices, jamf_computers, shared_macs

pytestmark = pytest.mark.unit


def test_both_simulators_report_the_same_serials_for_the_same_seed() -> None:
    intune = {d["serialNumber"] for d in graph_devices(50, seed=4)}
    jamf = {c["hardware"]["serialNumber"] for c in jamf_computers(50, seed=4, first_id=900)}  # type: ignore[index]
    assert len(intune) == 50 and intune == jamf
    assert intune != {d["serialNumber"] for d in graph_devices(50, seed=5)}


def test_shared_macs_are_macs_with_their_own_ids_and_never_collide_with_generated_serials() -> None:
    macs = graph_devices(20, seed=1)
    assert all(d["operatingSystem"] == "macOS" and d["manufacturer"] == "Apple" for d in macs)
    assert len({d["id"] for d in macs}) == 20
    computers = jamf_computers(20, seed=1, first_id=500)
    assert [c["id"] for c in computers] == [str(i) for i in range(500, 520)]
    assert all(m.serial.startswith("SHM") for m in shared_macs(20, seed=1))


def test_the_graph_simulator_adds_them_to_its_tenant() -> None:
    devices = initial_devices(GraphSimConfig(devices=30, seed=2, shared_macs=7, shared_seed=3))
    assert len(devices) == 37
    assert {d["serialNumber"] for d in devices[-7:]} == {m.serial for m in shared_macs(7, seed=3)}
