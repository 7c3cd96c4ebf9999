"""Start the Graph simulator in-process (tests, demo, bench) and describe it to its clients."""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..tls import make_ca, serve_in_thread
from .app import GraphSim, build_graph_app
from .config import GraphSimConfig


@dataclass(frozen=True)
class RunningGraphSim:
    base_url: str  # https://127.0.0.1:PORT — both the Graph and the Entra ID host
    ca_pem: Path  # trust this file (and only this) to talk to the simulator
    tenant_id: str
    client_id: str
    client_secret: str
    sim: GraphSim | None = None  # the live state, when running in this process

    @property
    def authority_url(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    def integration(self) -> dict[str, str]:
        """One entry of the intune-connector's integrations file."""
        return {
            "azure_tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "authority_url": self.authority_url,
            "graph_base_url": self.base_url,
            "ca_bundle": str(self.ca_pem),
        }

    def describe(self) -> dict[str, Any]:
        """The JSON line the CLI prints when ready."""
        return {
            "event": "graph_sim.ready",
            "base_url": self.base_url,
            "ca": str(self.ca_pem),
            **self.integration(),
        }

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the `/_sim` control API (blocking); returns the decoded JSON body or None."""
        ctx = ssl.create_default_context(cafile=str(self.ca_pem))
        with httpx.Client(base_url=self.base_url, verify=ctx, trust_env=False) as client:
            resp = client.request(method, f"/_sim{path}", json=json)
            resp.raise_for_status()
            return resp.json() if resp.content else None


@contextlib.contextmanager
def running_graph_sim(
    config: GraphSimConfig | None = None,
    *,
    cert_dir: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> Iterator[RunningGraphSim]:
    """Serve a simulated tenant over HTTPS from a background thread for the duration of the block."""
    config = config or GraphSimConfig()
    with contextlib.ExitStack() as stack:
        if cert_dir is None:
            cert_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="graph-sim-"))
        tls = make_ca(cert_dir, name="graph")
        app = build_graph_app(config)
        base_url = stack.enter_context(
            serve_in_thread(
                app,
                ssl_certfile=tls.server_cert.certfile,
                ssl_keyfile=tls.server_cert.keyfile,
                host=host,
                port=port,
            )
        )
        yield RunningGraphSim(
            base_url, tls.ca_pem, config.tenant_id, config.client_id, config.client_secret, app.state.sim
        )
