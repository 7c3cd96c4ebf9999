"""Root conftest: the session fixtures (devstack) and the suite's marker discipline.

Markers (one scheme, registered in the root pyproject.toml):

- ``unit``: pure logic, no I/O at all. Enforced here: while a ``unit`` test sets up, runs and
  tears down, opening a network connection, binding/listening on a socket, resolving a host name
  or starting a subprocess raises ``UnitTestDidIO`` (teardown is not guarded: it may close the
  session's database and broker); a ``unit`` test may not request the fixtures
  that give it a real database, broker or scratch directory (``FORBIDDEN_UNIT_FIXTURES``).
- ``integration``: real PostgreSQL and/or the real broker, or a local (TLS) server.
- ``e2e``: all services across the broker and the database.
- ``rule("R-M12", ...)``: the SPEC rules the test proves; ``tests/test_rule_coverage.py`` needs
  one marked test per rule ID of ``docs/SPEC.md``.

Every test needs one of unit/integration/e2e; the closest wins (a function's ``unit`` overrides
its module's ``integration``). A test without one fails at set-up with a
message naming it, and the run ends with a list of all such tests (even deselected ones).
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest_plugins = ["devstack.pytest_plugin"]

KINDS = ("unit", "integration", "e2e")
RULE_ID = re.compile(r"^R-[A-Z]\d+$")
FORBIDDEN_UNIT_FIXTURES = frozenset(
    {
        "tmp_path",
        "tmp_path_factory",
        "tmpdir",
        "tmpdir_factory",
        "broker",
        "pg_server",
        "database_url",
        "kafka",
    }
)


class UnitTestDidIO(RuntimeError):
    """A test marked `unit` tried to do I/O; mark it `integration` or remove the I/O."""


@contextmanager
def _no_io(nodeid: str) -> Iterator[None]:
    """Make every way to reach the network or start a process raise while a `unit` test runs.

    Socket *pairs* (the event loop's self-pipe) stay allowed: they reach nothing outside the process.
    """

    def forbid(what: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise UnitTestDidIO(
                f"{nodeid} is marked 'unit' but called {what}: a unit test does no I/O. "
                "Mark it 'integration' (real server, database, broker, subprocess) or remove the I/O."
            )

        return refuse

    patches: list[tuple[Any, str, Any]] = [
        (socket.socket, "connect", forbid("socket.connect")),
        (socket.socket, "connect_ex", forbid("socket.connect_ex")),
        (socket.socket, "bind", forbid("socket.bind")),
        (socket.socket, "listen", forbid("socket.listen")),
        (socket, "create_connection", forbid("socket.create_connection")),
        (socket, "create_server", forbid("socket.create_server")),
        (socket, "getaddrinfo", forbid("socket.getaddrinfo")),
        (subprocess.Popen, "__init__", forbid("subprocess.Popen")),
        (asyncio, "create_subprocess_exec", forbid("asyncio.create_subprocess_exec")),
        (asyncio, "create_subprocess_shell", forbid("asyncio.create_subprocess_shell")),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def _kind(item: pytest.Item) -> str | None:
    """The test's kind: the closest of unit/integration/e2e (a function's mark wins over its module's)."""
    for mark in item.iter_markers():
        if mark.name in KINDS:
            return mark.name
    return None


def _guarded(item: pytest.Item) -> Generator[None, None, None]:
    if _kind(item) != "unit":
        yield
        return
    with _no_io(item.nodeid):
        yield


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Record (before `-m` deselects anything) the tests that lack a kind or misuse `rule`."""
    unmarked: list[str] = []
    bad_rules: list[str] = []
    for item in items:
        if _kind(item) is None:
            unmarked.append(item.nodeid)
        for mark in item.iter_markers("rule"):
            if not mark.args or any(not isinstance(a, str) or not RULE_ID.match(a) for a in mark.args):
                bad_rules.append(f"{item.nodeid}: rule{mark.args!r}")
    config.stash[_UNMARKED] = unmarked
    if bad_rules:
        raise pytest.UsageError(
            "malformed @pytest.mark.rule (want rule('R-M12', ...)):\n" + "\n".join(bad_rules)
        )


_UNMARKED = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    kind = _kind(item)
    if kind is None:
        pytest.fail(
            f"{item.nodeid} has none of the markers {', '.join(KINDS)}: mark it "
            "(pytestmark = pytest.mark.unit / integration / e2e)",
            pytrace=False,
        )
    if kind == "unit":
        used = FORBIDDEN_UNIT_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            pytest.fail(
                f"{item.nodeid} is marked 'unit' but uses the I/O fixture(s) {sorted(used)}: "
                "mark it 'integration'",
                pytrace=False,
            )
    yield from _guarded(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield from _guarded(item)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    unmarked = config.stash.get(_UNMARKED, [])
    if unmarked:
        terminalreporter.section("tests without a unit/integration/e2e marker", sep="!", red=True, bold=True)
        for nodeid in unmarked:
            terminalreporter.line(nodeid)
        terminalreporter.line(f"{len(unmarked)} unmarked test(s): every test needs one of {', '.join(KINDS)}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Unmarked tests fail the run even when `-m` deselected them."""
    if session.config.stash.get(_UNMARKED, []) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
