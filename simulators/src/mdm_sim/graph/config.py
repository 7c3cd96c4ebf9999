"""What a simulated Intune tenant looks like: credentials, devices, token lifetime, faults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEVICES_FILE_ENV = "MDM_SIM_INTUNE_DEVICES"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# Graph's well-known application id also names the resource in a scope.
GRAPH_SCOPES = {GRAPH_SCOPE, "00000003-0000-0000-c000-000000000000/.default"}


@dataclass
class GraphSimConfig:
    tenant_id: str = "8f2e9c1a-5b7d-4e3f-9a61-2c4d8e0b7f15"
    client_id: str = "3c9d2f4e-7a1b-4c8d-9e5f-0a6b1c2d3e4f"
    client_secret: str = (
        "sim~intune~secret.0123456789abcdefABCDEF"  # a simulator credential, printed on purpose
    )
    devices: int = 2000  # generated devices (ignored when `devices_file` is given)
    seed: int = 0
    shared_macs: int = 0  # Macs also enrolled in Jamf (same serials): see mdm_sim.shared
    shared_seed: int = 0
    devices_file: Path | None = None  # a Graph page or JSON array; default: $MDM_SIM_INTUNE_DEVICES
    extra_device_files: list[Path] = field(default_factory=list)  # added to the base set
    token_lifetime_s: float = 3599.0  # how long the simulator accepts a token
    reported_expires_in: int | None = None  # what it tells the client (None: the lifetime)
    max_page_size: int = 1000
    count_skew: int = 0  # added to @odata.count, to simulate Graph under-/over-reporting
    faults: list[dict[str, Any]] = field(default_factory=list)  # see faults.Fault
    page_cache_bytes: int = 256 * 2**20

    def base_devices_file(self) -> Path | None:
        if self.devices_file is not None:
            return self.devices_file
        env = os.environ.get(DEVICES_FILE_ENV)
        return Path(env) if env else None
