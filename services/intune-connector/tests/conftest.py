"""Fixtures: a real Graph simulator over TLS, in-process, and the connector's view of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from intune_connector.settings import Integration, Settings
from mdm_sim.graph import GraphSimConfig, RunningGraphSim, running_graph_sim


@pytest.fixture
def sim_config() -> GraphSimConfig:
    """Override in a test module (or parametrize) for another tenant shape."""
    return GraphSimConfig(devices=2500, seed=7)


@pytest.fixture
def graph_sim(sim_config: GraphSimConfig) -> Iterator[RunningGraphSim]:
    with running_graph_sim(sim_config) as running:
        yield running


@pytest.fixture
def integration(graph_sim: RunningGraphSim) -> Integration:
    return Integration(integration_id="int-intune-1", **graph_sim.integration())


@pytest.fixture
def fast_settings() -> Callable[..., Settings]:
    """Settings with retries in milliseconds, so fault tests run fast; the logic is the production one."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"retry_base_delay_s": 0.01, "retry_max_delay_s": 0.05, "max_attempts": 4}
        return Settings(**{**values, **overrides})

    return make
