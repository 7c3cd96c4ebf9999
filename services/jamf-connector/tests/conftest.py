"""Fixtures: the real Jamf simulator served in-process over HTTPS, and integrations pointing at it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jamf_connector.settings import Integration, parse_integrations
from mdm_sim.jamf import JamfSim, RunningJamfSim, running_jamf_sim

ServeJamf = Callable[..., RunningJamfSim]


@pytest.fixture(scope="session")
def jamf_cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jamf-tls")  # one CA for the session, a server cert per sim


@pytest.fixture
def serve_jamf(jamf_cert_dir: Path) -> Iterator[ServeJamf]:
    """`serve_jamf(sim, use_tls=True)` -> where it listens; stopped when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(sim: JamfSim, *, use_tls: bool = True) -> RunningJamfSim:
            return stack.enter_context(running_jamf_sim(sim, cert_dir=jamf_cert_dir, use_tls=use_tls))

        yield start


def oauth_integration(srv: RunningJamfSim, integration_id: str = "jamf-1", **overrides: Any) -> Integration:
    return parse_integrations({integration_id: {**srv.integration("oauth"), **overrides}})[integration_id]


def basic_integration(srv: RunningJamfSim, integration_id: str = "jamf-1", **overrides: Any) -> Integration:
    return parse_integrations({integration_id: {**srv.integration("basic"), **overrides}})[integration_id]


@pytest.fixture
def make_oauth() -> Callable[..., Integration]:
    return oauth_integration


@pytest.fixture
def make_basic() -> Callable[..., Integration]:
    return basic_integration
