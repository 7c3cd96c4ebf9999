"""The golden scenario corpus (scenarios/*.json): every rule of SPEC §2–§5 by ID, run through the
pure core and the batch fold over an in-memory store (no I/O)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from .scenario_runner import Scenario

pytestmark = pytest.mark.unit
CORPUS = Path(__file__).parent / "scenarios"
# Every rule ID of SPEC §2–§5.
RULES = (
    [f"R-I{i}" for i in range(1, 9)]
    + [f"R-J{i}" for i in range(1, 4)]
    + [f"R-M{i}" for i in range(1, 12)]
    + [f"R-S{i}" for i in range(1, 7)]
)


def scenario_files() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def named_rule(path: Path) -> str:
    return path.name.split("_")[0]


def load(path: Path) -> tuple[str, dict]:
    assert re.match(r"^R-[IJMSP]\d+_", path.name), "files are named by the first rule they cover"
    spec = json.loads(path.read_text())
    assert named_rule(path) in spec["rules"], "the rule in the name is one the file covers"
    # A scenario proves something only where it checks: at least one expect, none empty, and the
    # last step an expect, so no action of the file goes unchecked.
    expects = [step["expect"] for step in spec["steps"] if "expect" in step]
    assert expects and all(expects), f"{path.name}: a scenario needs non-empty expect steps"
    assert "expect" in spec["steps"][-1], f"{path.name}: the last step must be an expect"
    return path.stem, spec


def scenario_params() -> list[object]:
    """Each scenario, marked with the rule its file is named by (tests/test_rule_coverage.py)."""
    return [pytest.param(p, id=p.stem, marks=pytest.mark.rule(named_rule(p))) for p in scenario_files()]


@pytest.mark.parametrize("path", scenario_params())
def test_scenario(path: Path) -> None:
    asyncio.run(Scenario(*load(path)).run())


def test_every_rule_is_covered_by_a_scenario_or_listed_as_covered_elsewhere() -> None:
    """A rule counts as covered by the scenario NAMED after it (the file is about that rule and its
    expectations check it), not by any file that lists it among its `rules`; rules that are not the
    reconciler's to prove are in the README's table, which says where they are proved."""
    covered = {named_rule(p) for p in scenario_files()}
    readme = (CORPUS / "README.md").read_text()
    rows = re.findall(r"^\| (R-[IJMS]\d+) \|[^|]+\|([^|]+)\|", readme, re.MULTILINE)
    assert all(where.strip() for _rule, where in rows), "each rule covered elsewhere names where"
    elsewhere = {rule for rule, _where in rows}
    missing = [r for r in RULES if r not in covered | elsewhere]
    assert not missing, f"rules without a scenario named after them: {missing}"
    assert not covered & elsewhere, f"a rule is either the reconciler's or elsewhere: {covered & elsewhere}"
