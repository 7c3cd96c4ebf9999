"""Jamf Pro simulator: token endpoints, computers-inventory (v1–v4) and mobile-devices detail."""

from .app import create_app
from .data import generate_computers, generate_mobiles, load_file
from .server import RunningJamfSim, run_jamf_sim
from .state import Fault, JamfSim, Scheduled, SimConfig

__all__ = [
    "Fault",
    "JamfSim",
    "RunningJamfSim",
    "Scheduled",
    "SimConfig",
    "create_app",
    "generate_computers",
    "generate_mobiles",
    "load_file",
    "run_jamf_sim",
]
