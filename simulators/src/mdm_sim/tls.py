"""TLS for the simulators: a trustme CA on disk and uvicorn served over HTTPS from a background thread.

Real MDM clients (MSAL over requests, httpx) verify certificates. Instead of turning verification off
(which would hide a whole class of bugs), every simulator is served with a certificate issued by a
local CA whose PEM is written to `<cert_dir>/ca.pem`; clients trust exactly that file.

Several simulators may share one cert dir: the first creates the CA (under a file lock), the others
reuse it, and each writes its own server certificate (`<name>.pem` / `<name>.key`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import trustme

DEFAULT_HOSTNAMES = ("127.0.0.1", "localhost", "::1")


class ServerCertPaths(NamedTuple):
    certfile: Path  # leaf + chain, PEM
    keyfile: Path  # private key, PEM


class TlsMaterial(NamedTuple):
    ca: trustme.CA
    server_cert: ServerCertPaths
    ca_pem: Path


def _write_private(path: Path, data: bytes) -> None:
    # Write-then-rename so a reader never sees half a PEM; keys are readable by the owner only.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def make_ca(
    cert_dir: str | os.PathLike[str],
    *,
    name: str = "server",
    hostnames: tuple[str, ...] = DEFAULT_HOSTNAMES,
) -> TlsMaterial:
    """Load or create the CA in `cert_dir` and issue a server certificate for `hostnames`.

    Returns `(ca, (certfile, keyfile), ca_pem_path)`.
    """
    d = Path(cert_dir)
    d.mkdir(parents=True, exist_ok=True)
    ca_pem, ca_key = d / "ca.pem", d / "ca-key.pem"
    with (d / ".ca.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ca_pem.exists() and ca_key.exists():
            ca = trustme.CA.from_pem(ca_pem.read_bytes(), ca_key.read_bytes())
        else:
            ca = trustme.CA(organization_name="device-ledger simulators")
            _write_private(ca_key, ca.private_key_pem.bytes())
            _write_private(ca_pem, ca.cert_pem.bytes())
    leaf = ca.issue_cert(*hostnames)
    certfile, keyfile = d / f"{name}.pem", d / f"{name}.key"
    _write_private(certfile, b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    _write_private(keyfile, leaf.private_key_pem.bytes())
    return TlsMaterial(ca, ServerCertPaths(certfile, keyfile), ca_pem)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    *,
    ssl_certfile: str | os.PathLike[str],
    ssl_keyfile: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 15.0,
) -> Iterator[str]:
    """Serve an ASGI app over HTTPS in a daemon thread; yields its base URL (`https://host:port`).

    We bind the socket ourselves so `port=0` gives a free port that is known before uvicorn starts.
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_certfile=str(ssl_certfile),
        ssl_keyfile=str(ssl_keyfile),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="mdm-sim")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("simulator did not start")
        time.sleep(0.01)
    try:
        yield f"https://{_url_host(host)}:{bound_port}"
    finally:
        # force_exit: idle keep-alive TLS connections of clients that never close their session
        # (MSAL's requests.Session) would otherwise hold a graceful shutdown for many seconds.
        server.should_exit = server.force_exit = True
        thread.join(10)
        sock.close()
