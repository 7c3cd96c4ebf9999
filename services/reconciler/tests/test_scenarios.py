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


def load(path: Path) -> tuple[str, dict]:
    assert re.match(r"^R-[IJMS]\d+_", path.name), "files are named by the first rule they cover"
    spec = json.loads(path.read_text())
    assert path.name.split("_")[0] in spec["rules"], "the rule in the name is one the file covers"
    return path.stem, spec


@pytest.mark.parametrize("path", scenario_files(), ids=lambda p: p.stem)
def test_scenario(path: Path) -> None:
    asyncio.run(Scenario(*load(path)).run())


def test_every_rule_is_covered_by_a_scenario_or_listed_as_covered_elsewhere() -> None:
    covered = {rule for p in scenario_files() for rule in json.loads(p.read_text())["rules"]}
    readme = (CORPUS / "README.md").read_text()
    elsewhere = set(re.findall(r"^\| (R-[IJMS]\d+) \|", readme, re.MULTILINE))
    missing = [r for r in RULES if r not in covered | elsewhere]
    assert not missing, f"rules without a scenario: {missing}"
