"""The Graph client against the real simulator over TLS: paging, throttling, 5xx, 401, token expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import stamina
from pydantic import SecretStr
from structlog.testing import capture_logs

from intune_connector.auth import AuthError, TokenProvider
from intune_connector.graph import GraphError, ManagedDevices, RetryPolicy, http_client_for, parse_retry_after
from intune_connector.settings import Integration, Settings
from intune_connector.translate import GRAPH_FIELDS
from mdm_sim.graph import GraphSimConfig, RunningGraphSim

pytestmark = pytest.mark.integration  # TLS on loopback to the real simulator; no broker or database


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The backoff stamina chose before each retry (its on-retry hook), in order."""
    seen: list[float] = []
    saved = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.wait_for)])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(saved)


async def pull_all(
    integration: Integration, settings: Settings, between_pages: Any = None
) -> tuple[list[dict[str, Any]], ManagedDevices]:
    tokens = TokenProvider(integration)
    async with http_client_for(integration, settings) as http:
        listing = ManagedDevices(
            integration.graph_base_url,
            tokens,
            http,
            policy=RetryPolicy(
                settings.max_attempts, settings.retry_base_delay_s, settings.retry_max_delay_s
            ),
        )
        devices: list[dict[str, Any]] = []
        async for page in listing.pages():
            devices += page.devices
            if between_pages is not None:
                await between_pages(page.number)
        return devices, listing


async def test_pages_2500_devices_each_once_with_select(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    devices, listing = await pull_all(integration, fast_settings())
    assert len(devices) == 2500
    assert {d["id"] for d in devices} == {d["id"] for d in graph_sim.sim.store.all()}  # type: ignore[union-attr]
    assert all(set(d) == set(GRAPH_FIELDS) for d in devices)  # $select honoured
    assert (listing.stats.pages, listing.stats.reported_total, listing.stats.retries) == (3, 2500, 0)
    assert graph_sim.control("GET", "/stats")["tokens_issued"] == 1  # MSAL's cache between pages


async def test_429_with_retry_after_is_honoured(
    graph_sim: RunningGraphSim,
    integration: Integration,
    fast_settings: Callable[..., Settings],
    waits: list[float],
) -> None:
    graph_sim.control("POST", "/faults", {"status": 429, "retry_after": "0.05", "page": 2, "times": 2})
    devices, _ = await pull_all(integration, fast_settings(retry_base_delay_s=5.0))
    assert len(devices) == 2500
    assert waits == [0.05, 0.05]  # the server's value (float seconds), not the (long) backoff
    assert graph_sim.control("GET", "/stats")["device_requests"] == 5


async def test_429_without_retry_after_backs_off_exponentially(
    graph_sim: RunningGraphSim,
    integration: Integration,
    fast_settings: Callable[..., Settings],
    waits: list[float],
) -> None:
    graph_sim.control("POST", "/faults", {"status": 429, "page": 1, "times": 3})
    devices, _ = await pull_all(integration, fast_settings(retry_base_delay_s=0.02, retry_max_delay_s=1.0))
    assert len(devices) == 2500
    assert len(waits) == 3
    for attempt, delay in enumerate(waits, start=1):  # stamina: base * 2^(n-1) plus up to `base` of jitter
        d = 0.02 * 2 ** (attempt - 1)
        assert d <= delay <= d + 0.02


async def test_503_and_504_are_retried(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    graph_sim.control(
        "POST", "/faults", [{"status": 503, "retry_after": "0.01", "page": 2}, {"status": 504, "page": 3}]
    )
    devices, listing = await pull_all(integration, fast_settings())
    assert len(devices) == 2500 and listing.stats.retries == 2


async def test_persistent_5xx_fails_after_bounded_attempts(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    graph_sim.control("POST", "/faults", {"status": 503, "page": 2, "times": -1})
    with pytest.raises(GraphError, match=r"gave up on page 2 after 4 attempts \(last: 503\)"):
        await pull_all(integration, fast_settings(max_attempts=4))
    assert graph_sim.control("GET", "/stats")["device_requests"] == 1 + 4


async def test_401_refreshes_the_token_once_and_continues(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    async def revoke_after_first(page: int) -> None:
        if page == 1:
            await asyncio.to_thread(graph_sim.control, "POST", "/tokens/revoke")

    devices, listing = await pull_all(integration, fast_settings(), between_pages=revoke_after_first)
    assert len(devices) == 2500
    assert listing.stats.token_refreshes == 1
    stats = graph_sim.control("GET", "/stats")
    assert (stats["tokens_issued"], stats["unauthorized"]) == (2, 1)


async def test_token_dying_mid_pull_recovers_on_each_page(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    """A token MSAL still thinks valid dies under the pull (revoked here, deterministically, where a
    short real lifetime would race the clock): pages 2 and 3 each meet a 401 and refresh once."""

    async def kill_tokens(page: int) -> None:
        await asyncio.to_thread(graph_sim.control, "POST", "/tokens/revoke")

    devices, listing = await pull_all(integration, fast_settings(), between_pages=kill_tokens)
    assert len(devices) == 2500
    assert listing.stats.token_refreshes == 2
    assert graph_sim.control("GET", "/stats")["unauthorized"] == 2


@pytest.mark.parametrize("sim_config", [GraphSimConfig(devices=10, token_lifetime_s=0.0)])
async def test_a_second_401_after_refresh_fails(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(GraphError, match="returned 401: InvalidAuthenticationToken") as info:
        await pull_all(integration, fast_settings())
    assert info.value.status == 401
    assert graph_sim.control("GET", "/stats")["tokens_issued"] == 2  # exactly one forced refresh


async def test_count_mismatch_is_logged(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    graph_sim.control("PATCH", "/config", {"count_skew": 7})
    with capture_logs() as logs:
        devices, _ = await pull_all(integration, fast_settings())
    assert len(devices) == 2500
    mismatches = [e for e in logs if e["event"] == "graph.count_mismatch"]
    assert mismatches == [
        {
            "event": "graph.count_mismatch",
            "log_level": "warning",
            "reported_total": 2507,
            "fetched": 2500,
            "duplicates": 0,
        }
    ]


async def test_no_mismatch_logged_when_counts_agree(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    with capture_logs() as logs:
        await pull_all(integration, fast_settings())
    assert not [e for e in logs if e["event"] == "graph.count_mismatch"]


async def test_device_renamed_mid_pull_is_deduplicated(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    seen_first: list[str] = []

    async def rename_one_already_seen(page: int) -> None:
        if page == 1:
            first_id = graph_sim.sim.store.all()[0]["id"]  # type: ignore[union-attr]
            seen_first.append(first_id)
            await asyncio.to_thread(graph_sim.control, "PUT", f"/devices/{first_id}", {"deviceName": "zzz"})

    devices, listing = await pull_all(integration, fast_settings(), between_pages=rename_one_already_seen)
    assert len(devices) == 2500 and listing.stats.duplicates == 1
    assert [d["id"] for d in devices].count(seen_first[0]) == 1


async def test_wrong_secret_is_an_auth_error_without_the_secret(
    graph_sim: RunningGraphSim, integration: Integration, fast_settings: Callable[..., Settings]
) -> None:
    wrong = integration.model_copy(update={"client_secret": SecretStr("wrong-secret-value")})
    with pytest.raises(AuthError, match="invalid_client: AADSTS7000215") as info:
        await pull_all(wrong, fast_settings())
    assert "wrong-secret-value" not in str(info.value) and "Trace ID" not in str(info.value)


async def test_unreachable_authority_is_an_auth_error(integration: Integration) -> None:
    gone = integration.model_copy(update={"authority_url": "https://127.0.0.1:9/nowhere"})
    with pytest.raises(AuthError, match="unusable"):
        await TokenProvider(gone).token()


# --- without the simulator: behaviour the simulator cannot produce -------------------------------


class FixedTokens:
    def __init__(self) -> None:
        self.refreshes = 0

    async def token(self) -> str:
        return "t"

    async def refresh(self) -> str:
        self.refreshes += 1
        return "t2"


@pytest.mark.unit
async def test_connection_errors_are_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection reset")
        return httpx.Response(200, json={"value": [{"id": "a"}], "@odata.count": 1})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        listing = ManagedDevices(
            "https://graph.test", FixedTokens(), http, policy=RetryPolicy(3, 0.001, 0.001)
        )
        pages = [p async for p in listing.pages()]
    assert [p.devices for p in pages] == [[{"id": "a"}]] and len(calls) == 2


@pytest.mark.unit
async def test_next_link_to_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [], "@odata.nextLink": "https://evil.example/steal"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        listing = ManagedDevices("https://graph.test", FixedTokens(), http)
        with pytest.raises(GraphError, match="outside the Graph base URL"):
            _ = [p async for p in listing.pages()]


@pytest.mark.unit
async def test_403_fails_at_once_with_a_consent_hint() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"error": {"code": "Forbidden", "message": "Application is not authorized"}}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        listing = ManagedDevices("https://graph.test", FixedTokens(), http)
        with pytest.raises(GraphError, match=r"403: Forbidden.*admin consent"):
            _ = [p async for p in listing.pages()]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("header", "expected"),
    [("0.05", 0.05), ("2", 2.0), ("2.128", 2.128), (None, None), ("", None), ("soon", None), ("-3", 0.0)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


@pytest.mark.unit
def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
