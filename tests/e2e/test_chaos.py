"""Chaos in the suite (issue 9 item 6; R-M12, R-M13, R-X1–R-X3): the scenario of devstack.chaos —
first sync of both MDMs, a re-sync with changes, an unlink keeping the devices, a re-link — run
clean, then run with every service SIGKILLed at seeded random points and restarted (the reconciler,
the ledger API, both connectors, PostgreSQL). The outcomes must be the same: devices field by
field, each run's counts, the conflicts, and no two different change events for one
(device, version). `make chaos` runs the same comparison longer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import chaos
from devstack.infra import free_port
from devstack.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.rule("R-M13")]
DEVICES = 1000  # two thirds Intune, one third Jamf (`make chaos` runs 50,000)
SEED = 7


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[chaos.Outcome]:
    root = Path(tmp_path_factory.mktemp("chaos")) / "reference"
    with Stack(chaos.config(root, DEVICES, free_port(), SEED)) as stack:
        yield chaos.run_scenario(stack, chaos.Chaos(stack, None), timeout=300)


# A clean scenario (~1 min) plus one with six kills and restarts (~1.5 min) on 2 loaded cores.
@pytest.mark.timeout(600)
def test_killing_every_service_at_random_points_changes_nothing(
    reference: chaos.Outcome, tmp_path: Path
) -> None:
    assert all(status == "completed" for _, status, _ in reference.runs), reference.runs
    assert len(reference.devices) > DEVICES * 0.9 and reference.conflicts  # the data has teeth
    assert reference.change_clashes == []
    with Stack(chaos.config(tmp_path / "chaos", DEVICES, free_port(), SEED)) as stack:
        # One kill per step: six, so each of the five services at least once (see `Chaos._victim`).
        faults = chaos.Chaos(stack, seed=SEED * 1000 + 1, kills_per_step=1)
        outcome = chaos.run_scenario(stack, faults, timeout=300)
    killed = {line.split("SIGKILL ")[1].split(" ")[0] for line in outcome.kills if "SIGKILL" in line}
    assert killed == set(chaos.VICTIMS), outcome.kills  # every service was killed at least once
    # No service died by itself: the reconciler and the API ride out the PostgreSQL crash (R-X1)
    # instead of exiting and needing the supervisor (which stays, as systemd/Kubernetes would).
    assert [line for line in outcome.kills if line.startswith("supervisor:")] == [], outcome.kills
    differences = chaos.compare(reference, outcome)
    assert differences == [], "\n".join(["kills:", *outcome.kills, "differences:", *differences])
