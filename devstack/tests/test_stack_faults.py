"""Fault injection on the real stack (issue 9 item 6): kill and restart a service, crash and restart
PostgreSQL, and a failed start that leaves nothing running."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from devstack import infra
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("faults")) / "stack",
        intune_devices=30,
        api_port=infra.free_port(),
        session_timeout_ms=2000,
    )
    with Stack(config) as s:
        yield s


def _sync(stack: Stack) -> dict[str, object]:
    run = stack.wait_run(stack.sync("ml-intune-demo")["sync_run_id"], timeout=120)
    assert run["status"] == "completed", run
    return run


def test_kill_is_sigkill_and_restart_brings_the_service_back_with_the_same_argv(stack: Stack) -> None:
    old = stack.procs["reconciler"]
    stack.kill("reconciler")
    assert old.popen.returncode == -9  # SIGKILL, not a graceful stop
    stack.restart("reconciler")
    new = stack.procs["reconciler"]
    assert new.popen.pid != old.popen.pid and new.popen.poll() is None
    assert (new.argv, new.env) == (old.argv, old.env)
    assert _sync(stack)["counts"]["seen"] == 30  # type: ignore[index]


def test_restart_of_the_api_waits_until_it_is_ready(stack: Stack) -> None:
    stack.restart("ledger-api")  # kills the running one first
    assert stack.count_devices() == 30


def test_a_restarted_simulator_comes_back_on_its_port(stack: Stack) -> None:
    before = stack.sims["intune"]["base_url"]
    stack.restart("graph-sim")
    assert stack.sims["intune"]["base_url"] == before
    assert _sync(stack)["counts"]["seen"] == 30  # type: ignore[index]


def test_postgres_crash_and_restart_keeps_committed_data(stack: Stack) -> None:
    assert stack.database is not None
    old_pid = stack.database.pid
    assert old_pid is not None

    async def sql(statement: str) -> int:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return int(await conn.fetchval(statement) or 0)
        finally:
            await conn.close()

    _sync(stack)
    asyncio.run(sql("CREATE TABLE probe AS SELECT generate_series(1, 500) AS n"))  # committed
    stack.restart_database(crash=True)
    assert _gone(old_pid) and stack.database.pid not in (None, old_pid)
    assert asyncio.run(sql("SELECT count(*) FROM probe")) == 500  # recovered from the WAL
    assert stack.count_devices() == 30  # the API reconnects to the restarted server


def test_a_failed_start_stops_everything_it_had_started(tmp_path: Path) -> None:
    config = StackConfig(
        root=tmp_path / "stack",
        intune_devices=5,
        jamf_computers=3,
        jamf_sim_args=["--no-such-option"],  # the Jamf simulator exits: the start fails half way
        api_port=infra.free_port(),
    )
    stack = Stack(config)
    with pytest.raises(RuntimeError, match="jamf-sim exited"):
        stack.start()
    assert stack.broker and stack.broker.process and stack.database and stack.database.process
    started = [stack.broker.process.pid, stack.database.process.pid, stack.procs["graph-sim"].popen.pid]
    assert all(_gone(pid) for pid in started)


def test_a_start_on_a_taken_port_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        config = StackConfig(root=tmp_path / "stack", api_port=s.getsockname()[1])
        with pytest.raises(RuntimeError, match=f"port {config.api_port} is already in use"):
            Stack(config).start()
    assert not (tmp_path / "stack").exists()  # refused before anything was started


def test_children_die_with_their_parent_even_on_sigkill(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a grandchild started with `die_with_parent` dies when its parent is killed."""
    code = textwrap.dedent(
        """
        import subprocess, sys, time
        from devstack.infra import die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 preexec_fn=die_with_parent())
        print(child.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        grandchild = psutil.Process(int(parent.stdout.readline()))
    finally:
        parent.kill()
        parent.wait(10)
    grandchild.wait(10)  # raises psutil.TimeoutExpired if it outlived its parent
