"""Run the Jamf simulator in a background thread: HTTPS with a trustme CA (default), or plain HTTP.

HTTPS reuses `mdm_sim.tls` (shared with the Graph simulator). Plain HTTP has its own small helper
because `tls.serve_in_thread` always configures certificates.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import tls
from .app import build_jamf_app
from .state import JamfSim


@dataclass(frozen=True)
class RunningJamfSim:
    base_url: str  # https://127.0.0.1:PORT (http:// when served without TLS)
    ca_pem: Path | None  # trust this file (and only this) to talk to the simulator; None over HTTP
    sim: JamfSim  # the live state, in this process

    def integration(self, flavour: str = "oauth") -> dict[str, str | None]:
        """One entry of the jamf-connector's integrations file (OAuth client or username/password)."""
        config = self.sim.config
        entry: dict[str, str | None] = {
            "base_url": self.base_url,
            "ca_bundle": str(self.ca_pem) if self.ca_pem else None,
        }
        if flavour == "oauth":
            return {**entry, "client_id": config.client_id, "client_secret": config.client_secret}
        return {**entry, "username": config.username, "password": config.password}


@contextlib.contextmanager
def running_jamf_sim(
    sim: JamfSim,
    *,
    cert_dir: str | os.PathLike[str] | None = None,
    use_tls: bool = True,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningJamfSim]:
    """Serve `sim` until the block ends; yields where it listens and which CA to trust."""
    app = build_jamf_app(sim)
    if not use_tls:
        with serve_plain_in_thread(app, host=host, port=port) as url:
            yield RunningJamfSim(url, None, sim)
        return
    with contextlib.ExitStack() as stack:
        if cert_dir is None:
            cert_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="jamf-sim-tls-"))
        material = tls.make_ca(cert_dir, name="jamf")
        url = stack.enter_context(
            tls.serve_in_thread(
                app,
                ssl_certfile=material.server_cert.certfile,
                ssl_keyfile=material.server_cert.keyfile,
                host=host,
                port=port,
            )
        )
        yield RunningJamfSim(url, material.ca_pem, sim)


@contextlib.contextmanager
def serve_plain_in_thread(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="jamf-sim")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("jamf simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://{f'[{host}]' if ':' in host else host}:{bound}"
    finally:
        server.should_exit = server.force_exit = True  # as tls.serve_in_thread: idle keep-alives
        thread.join(10)
        sock.close()
