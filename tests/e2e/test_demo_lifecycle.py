"""The demo's own lifecycle (issue 9 item 10): however `devstack demo` stops — SIGTERM, SIGINT,
SIGHUP, or killed outright (SIGKILL, as a crash) — nothing it started keeps running, and the next
start works. A start that finds its port taken or a leftover PostgreSQL says so in one line."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack import infra

pytestmark = pytest.mark.e2e
READY = "Ledger API ready at"


class Demo:
    def __init__(self, run_dir: Path, port: int) -> None:
        argv = [sys.executable, "-m", "devstack", "demo", "--devices", "20", "--jamf", "10"]
        argv += ["--shared-macs", "5", "--api-port", str(port), "--run-dir", str(run_dir)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # (a raw-descriptor read below: a buffered readline could hide lines from select)
        self.output: list[str] = []

    def wait_for(self, text: str, timeout: float = 100) -> None:
        """Read the demo's output until a line holds `text` (a deadline, never a blocking read)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.output.append(chunk.decode(errors="replace"))
                if text in "".join(self.output):
                    return
        self.proc.kill()
        raise AssertionError(f"no {text!r} in the demo's output:\n{''.join(self.output)}")

    def family(self) -> list[psutil.Process]:
        """Every process the demo started: services, simulators, broker, PostgreSQL and its backends."""
        return psutil.Process(self.proc.pid).children(recursive=True)


def _assert_all_gone(procs: list[psutil.Process], timeout: float = 15) -> None:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    survivors = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive if p.is_running()]
    assert not survivors, f"still running after the demo stopped: {survivors}"


def _kinds(procs: list[psutil.Process]) -> set[str]:
    names = " ".join(" ".join(p.cmdline()) for p in procs)
    return {k for k in ("tansu", "postgres", "reconciler", "ledger_api", "mdm_sim") if k in names}


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """One run directory and API port for all the stop kinds below: each start proves that the
    stop before it left nothing holding them (a leftover server, a bound port)."""
    return tmp_path_factory.mktemp("lifecycle") / "demo", infra.free_port()


# SIGKILL first: the orchestrator "crashes" and every later start needs its children gone.
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stopped_or_killed_demo_leaves_nothing_running(
    place: tuple[Path, int], stop: signal.Signals
) -> None:
    run_dir, port = place
    demo = Demo(run_dir, port)
    demo.wait_for(READY)
    family = demo.family()
    assert _kinds(family) == {"tansu", "postgres", "reconciler", "ledger_api", "mdm_sim"}
    demo.proc.send_signal(stop)
    assert demo.proc.wait(30) == (-9 if stop == signal.SIGKILL else 0)
    _assert_all_gone(family)  # with SIGKILL: PR_SET_PDEATHSIG, the kernel kills the children
    assert not infra.port_in_use(port)
    assert infra.leftover_postgres((run_dir / "pgdata").resolve()) is None


def test_a_taken_port_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        demo = Demo(tmp_path / "demo", port)
        out, _ = demo.proc.communicate(timeout=60)
    assert demo.proc.returncode == 2
    assert out.strip().splitlines() == [
        f"devstack demo: cannot start: port {port} is already in use (a ledger API of an earlier run?); "
        "stop that process and start again"
    ]


def test_a_leftover_postgres_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    run_dir = tmp_path / "demo"
    leftover = infra.start_database(run_dir / "pgdata")  # as a demo killed before this fix left it
    try:
        demo = Demo(run_dir, infra.free_port())
        out, _ = demo.proc.communicate(timeout=60)
        assert demo.proc.returncode == 2
        (line,) = out.strip().splitlines()
        assert line.startswith("devstack demo: cannot start: a PostgreSQL server (pid ")
        assert f"(kill {leftover.pid})" in line
        assert leftover.pid is not None  # the demo did not touch it
    finally:
        leftover.stop()
