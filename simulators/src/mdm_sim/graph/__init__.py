"""A Microsoft Graph (Intune managedDevices) + Entra ID simulator that real MSAL/httpx clients accept."""

from .app import GraphSim, build_graph_app
from .config import DEVICES_FILE_ENV, GRAPH_SCOPE, GraphSimConfig
from .faults import Fault
from .generate import generate_devices
from .runner import RunningGraphSim, running_graph_sim
from .store import DeviceStore, device_files, load_devices_file

__all__ = [
    "DEVICES_FILE_ENV",
    "GRAPH_SCOPE",
    "DeviceStore",
    "Fault",
    "GraphSim",
    "GraphSimConfig",
    "RunningGraphSim",
    "build_graph_app",
    "device_files",
    "generate_devices",
    "load_devices_file",
    "running_graph_sim",
]
