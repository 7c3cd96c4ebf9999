"""`make mutation`: mutation testing (mutmut 3) of the pure code whose tests must be sharp.

mutmut 3 derives a mutant's module name from its file path (``src/reconciler/core/decide.py`` ->
``reconciler.core.decide``) and runs the tests in a copy of the tree (``mutants/``). A uv workspace
has many ``src/`` directories, so each target is run in its own small work tree under
``.mutation/<target>/`` (git-ignored): the target's whole package in ``src/``, its tests in
``tests/``, the root ``conftest.py`` (markers, the unit no-I/O guard) and a generated
``pyproject.toml`` with the mutmut and pytest settings. ``mutants/`` is then created inside that
work tree. The installed workspace packages stay importable; mutmut puts ``mutants/src`` first on
``sys.path``, so the tests import the mutated package.

Only ``unit`` tests run (no database or broker: fast, and they are where the rules are pinned down),
with a fixed hypothesis seed so that a mutant's verdict does not depend on luck.

Usage: ``python scripts/mutation.py [TARGET ...] [--max-children N]`` (default: every target).
Each target prints its score and writes ``.mutation/<target>/summary.json`` with the survivors.
Not part of CI: it takes minutes to tens of minutes per target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
MUTMUT = ROOT / ".venv" / "bin" / "mutmut"


# Hypothesis properties run with fewer examples per mutant (the suite itself runs 150-300): with
# 300 examples a surviving mutant costs the whole property suite, ~10 s, and a target has ~1,600
# mutants. The seed is fixed, so the verdicts are reproducible.
MAX_EXAMPLES = int(os.environ.get("MUTATION_MAX_EXAMPLES", "30"))
FEWER_EXAMPLES = """

# --- appended by scripts/mutation.py: at most {cap} hypothesis examples per property -------------
def pytest_itemcollected(item: pytest.Item) -> None:
    import hypothesis

    test = getattr(item, "obj", None)
    current = getattr(test, "_hypothesis_internal_use_settings", None)
    if current is not None and current.max_examples > {cap}:
        test._hypothesis_internal_use_settings = hypothesis.settings(current, max_examples={cap})
"""


@dataclass(frozen=True)
class Target:
    package: Path  # the package directory, copied whole into src/
    mutate: tuple[str, ...]  # globs relative to the work tree, e.g. "src/reconciler/core/*"
    tests: Path  # the service's tests directory, copied into tests/
    # Tests that read the module's source text (its imports): mutmut's rewritten module imports
    # mutmut, so they cannot run on a mutant; they guard purity, not behaviour.
    source_checks: tuple[str, ...] = ()
    # Test modules that cannot even be imported in the work tree (left out with --ignore): e.g. one
    # that imports its service's `conftest` by name, which there resolves to the root conftest.py.
    uncollectable: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "reconciler-core": Target(
        ROOT / "services/reconciler/src/reconciler",
        ("src/reconciler/core/*",),
        ROOT / "services/reconciler/tests",
    ),
    "intune-translate": Target(
        ROOT / "services/intune-connector/src/intune_connector",
        ("src/intune_connector/translate.py",),
        ROOT / "services/intune-connector/tests",
        ("tests/test_translate.py::test_translator_is_pure",),
    ),
    "ledger-api-csv": Target(
        ROOT / "services/ledger-api/src/ledger_api",
        ("src/ledger_api/domain/device_csv.py", "src/ledger_api/domain/usage_history.py"),
        ROOT / "services/ledger-api/tests",
        ("tests/test_units.py::test_the_pure_modules_do_no_io",),
        ("tests/test_tokens.py",),  # integration tests (never run here); `from conftest import TOKENS`
    ),
    "jamf-translate": Target(
        ROOT / "services/jamf-connector/src/jamf_connector",
        ("src/jamf_connector/translate.py",),
        ROOT / "services/jamf-connector/tests",
        ("tests/test_translate.py::test_translation_is_pure",),
    ),
}


def pytest_settings() -> dict[str, object]:
    """The root pytest settings, pointed at the copied tests, unit tests only."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    keep = (
        "asyncio_mode",
        "asyncio_default_fixture_loop_scope",
        "asyncio_default_test_loop_scope",
        "markers",
    )
    settings: dict[str, object] = {k: root[k] for k in keep if k in root}
    settings |= {
        "testpaths": ["tests"],
        "addopts": "--strict-markers --import-mode=importlib -p no:cacheprovider",
        "timeout": root.get("timeout", 120),
        "timeout_method": root.get("timeout_method", "thread"),
        "filterwarnings": root.get("filterwarnings", []),
    }
    return settings


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def prepare(name: str, target: Target) -> Path:
    tree = WORK / name
    # Tests find shared test data by their place in the repository (e.g. the contracts' golden
    # samples at parents[3] / "libs"); from .mutation/<target>/mutants/tests/ that is .mutation/.
    WORK.mkdir(exist_ok=True)
    for shared in ("libs", "docs", "simulators"):
        link = WORK / shared
        if not link.is_symlink():
            link.symlink_to(ROOT / shared, target_is_directory=True)
    if tree.exists():
        shutil.rmtree(tree)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(target.package, tree / "src" / target.package.name, ignore=ignore)
    shutil.copytree(target.tests, tree / "tests", ignore=ignore)
    conftest = (ROOT / "conftest.py").read_text() + FEWER_EXAMPLES.format(cap=MAX_EXAMPLES)
    (tree / "conftest.py").write_text(conftest)
    pytest_args = [
        "-m",
        "unit",
        "-q",
        "--hypothesis-seed=0",
        *(f"--deselect={t}" for t in target.source_checks),
        *(f"--ignore={t}" for t in target.uncollectable),
    ]
    write_config(tree, target, pytest_args)
    # mutmut needs every selected test green on the unmutated code. A test that fails there (work in
    # progress in a shared tree) cannot judge a mutant: it is left out, and the summary names it.
    failing = failing_tests(tree, pytest_args)
    left_out = [f"--deselect={t}" if "::" in t else f"--ignore={t}" for t in failing]  # ERROR: a module
    write_config(tree, target, [*pytest_args, *left_out])
    (tree / "failing-on-clean-code.txt").write_text("".join(f"{t}\n" for t in failing))
    return tree


def write_config(tree: Path, target: Target, pytest_args: list[str]) -> None:
    mutmut = {
        "source_paths": ["src/"],
        "only_mutate": list(target.mutate),
        "also_copy": ["conftest.py"],
        "pytest_add_cli_args": pytest_args,
        "pytest_add_cli_args_test_selection": ["tests/"],
        # A mutant that loops is stopped after 4x (not mutmut's 15x) the CPU time its tests take.
        "timeout_multiplier": 4.0,
    }
    lines = ["[tool.mutmut]"] + [f"{k} = {toml_value(v)}" for k, v in mutmut.items()]
    lines += ["", "[tool.pytest.ini_options]"] + [
        f"{k} = {toml_value(v)}" for k, v in pytest_settings().items()
    ]
    (tree / "pyproject.toml").write_text("\n".join(lines) + "\n")


def failing_tests(tree: Path, pytest_args: list[str]) -> list[str]:
    """The node ids of the selected tests that fail on the copied, unmutated package."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tree / "src")}
    pytest = ROOT / ".venv" / "bin" / "pytest"
    done = subprocess.run(
        [str(pytest), *pytest_args, "-rfE", "-p", "no:cacheprovider", "tests/"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    prefixes = ("FAILED ", "ERROR ")
    return sorted(
        {
            line.split(" ", 1)[1].split(" - ")[0]
            for line in done.stdout.splitlines()
            if line.startswith(prefixes)
        }
    )


def mutmut(tree: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(MUTMUT), *args], cwd=tree, env=env, text=True, capture_output=args[0] != "run")
    if check and done.returncode != 0:
        raise SystemExit(f"{tree.name}: mutmut {args[0]} failed ({done.returncode})")
    return done


def not_killed(tree: Path) -> list[tuple[str, str]]:
    """(mutant, status) of every mutant `mutmut results` lists: survived, no tests, timeout, ..."""
    lines = mutmut(tree, "results").stdout.splitlines()
    return [(k.strip(), status) for k, status in (line.rsplit(": ", 1) for line in lines if ": " in line)]


def refresh_tests(tree: Path, target: Target) -> None:
    """Copy the target's current tests (new ones included) over the work tree's and mutmut's copy."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for tests in (tree / "tests", tree / "mutants" / "tests"):
        shutil.copytree(target.tests, tests, ignore=ignore, dirs_exist_ok=True)


def run(name: str, target: Target, max_children: int, *, rerun: bool) -> dict[str, object]:
    """Mutate and test a target in a fresh work tree; with `rerun`, keep the tree and its verdicts
    and test only the mutants that were not killed again, against the target's current tests."""
    tree = WORK / name
    if rerun and (tree / "mutants").is_dir():
        refresh_tests(tree, target)
        again = [key for key, status in not_killed(tree) if status in SURVIVED]
        print(f"== {name}: {len(again)} mutant(s) not killed so far, tested again", flush=True)
        if again:
            mutmut(tree, "run", "--max-children", str(max_children), *again)
    else:
        tree = prepare(name, target)
        print(f"== {name}: mutmut run in {tree.relative_to(ROOT)}", flush=True)
        mutmut(tree, "run", "--max-children", str(max_children))
    mutmut(tree, "export-cicd-stats")
    stats = json.loads((tree / "mutants" / "mutmut-cicd-stats.json").read_text())
    survivors = sorted(f"{key} ({status})" for key, status in not_killed(tree) if status in SURVIVED)
    caught = stats["killed"] + stats["timeout"] + stats["segfault"]
    tested = caught + stats["survived"] + stats["no_tests"] + stats["suspicious"]
    score = caught / tested if tested else 0.0
    excluded = (tree / "failing-on-clean-code.txt").read_text().split()
    summary = {
        "target": name,
        "stats": stats,
        "score": round(score, 4),
        "survivors": survivors,
        "tests_left_out_failing_on_clean_code": excluded,
    }
    (tree / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"== {name}: {score:.1%} killed ({stats}); {len(survivors)} survivor(s)", flush=True)
    for test in excluded:
        print(f"   left out (fails on the unmutated code): {test}")
    for survivor in survivors:
        print(f"   survived: {survivor}")
    return summary


SURVIVED = {"survived", "no tests"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--max-children", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument(
        "--rerun", action="store_true", help="keep the last verdicts; test only the survivors again"
    )
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {unknown}; known: {', '.join(TARGETS)}")
    summaries = [run(name, TARGETS[name], args.max_children, rerun=args.rerun) for name in names]
    print("\n".join(f"{s['target']}: {s['score']:.1%}" for s in summaries))


if __name__ == "__main__":
    main()
