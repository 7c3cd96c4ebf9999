"""Jamf Pro simulator: token endpoints, computers-inventory (v1–v4) and mobile-devices detail."""

from .app import build_jamf_app
from .data import generate_computers, generate_mobiles, load_file
from .runner import RunningJamfSim, running_jamf_sim
from .state import Fault, JamfSim, Scheduled, SimConfig

__all__ = [
    "Fault",
    "JamfSim",
    "RunningJamfSim",
    "Scheduled",
    "SimConfig",
    "build_jamf_app",
    "generate_computers",
    "generate_mobiles",
    "load_file",
    "running_jamf_sim",
]
