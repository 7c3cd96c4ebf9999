"""The Jamf client against the real simulator (HTTPS, in-process): auth, versions, paging, retries."""

from __future__ import annotations

import contextlib
import ssl
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stamina

from connector_kit import retry
from jamf_connector.auth import AuthError
from jamf_connector.client import JamfApiError, JamfClient, NotServed, is_retryable, open_client
from jamf_connector.settings import Integration
from mdm_sim.jamf import Fault, JamfSim, Scheduled, SimConfig, generate_computers, generate_mobiles

pytestmark = pytest.mark.integration  # the simulator in-process over loopback TLS; no broker

FAST = retry.RetryPolicy(max_attempts=5, base_delay_s=0.001, max_delay_s=0.01)


class Clock:
    """A controllable monotonic clock for the token providers."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def waits() -> Any:
    """The backoff stamina chose before each retry (its on-retry hook), in order."""
    seen: list[float] = []
    saved = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.wait_for)])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(saved)


async def pull_all(integration: Integration, **options: Any) -> tuple[list[tuple[str, str]], JamfClient]:
    """Every (kind, id) the client yields, in order, duplicates kept (so tests can count them)."""
    options = {"policy": FAST, **options}
    seen: list[tuple[str, str]] = []
    async with open_client(integration, **options) as client:
        async with contextlib.aclosing(client.inventory()) as pages:
            async for page in pages:
                id_field = "id" if page.kind == "computer" else "mobileDeviceId"
                seen += [(page.kind, str(r[id_field])) for r in page.records]
    return seen, client


def expected_ids(sim: JamfSim) -> list[tuple[str, str]]:
    return sorted((kind, i) for kind in ("computer", "mobile") for i in sim.devices[kind])  # type: ignore[index]


def fleet(computers: int, mobiles: int = 0, **config: Any) -> JamfSim:
    return JamfSim(
        generate_computers(computers, seed=3), generate_mobiles(mobiles, seed=3), SimConfig(**config)
    )


def requests_to(sim: JamfSim, path: str) -> int:
    return sim.stats[f"requests GET {path}"]


# --- paging --------------------------------------------------------------------------------------


async def test_4500_devices_with_page_size_2000_arrive_exactly_once(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = fleet(4500)
    seen, client = await pull_all(make_oauth(serve_jamf(sim)), page_size=2000)
    assert sorted(seen) == expected_ids(sim)
    assert len(seen) == len(set(seen)) == 4500
    assert requests_to(sim, "/api/v4/computers-inventory") == 3 + 1  # 3 pages, 1 gap check
    assert client.reported_total == 4500


async def test_clamped_page_size_still_gets_everything(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(4500)  # the server clamps to 2000, silently, like Jamf
    seen, _ = await pull_all(make_oauth(serve_jamf(sim)), page_size=5000)
    assert sorted(seen) == expected_ids(sim)
    assert requests_to(sim, "/api/v4/computers-inventory") == 3 + 1  # 3 pages, 1 gap check


async def test_a_stricter_clamp_than_2000_is_handled_too(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(2500, 1200, max_page_size=700)
    seen, _ = await pull_all(make_oauth(serve_jamf(sim)), page_size=2000)
    assert sorted(seen) == expected_ids(sim) and len(seen) == 3700


async def test_devices_removed_and_added_mid_pull_are_each_seen_once(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = fleet(1000)
    first_page_ids = sorted(sim.devices["computer"], key=int)[:100]
    new = [{**r, "id": str(5000 + n)} for n, r in enumerate(generate_computers(3, seed=9))]
    # After page 1 is served, three devices of page 0 vanish (shifting every later offset page by
    # three) and three new ones appear: a naive offset pager would skip devices at page boundaries.
    sim.scheduled += [
        Scheduled(after_pages=1, action="remove", kind="computer", ids=first_page_ids[10:13]),
        Scheduled(after_pages=1, action="add", kind="computer", records=new),
    ]
    seen, _ = await pull_all(make_oauth(serve_jamf(sim)), page_size=100, max_concurrency=1)
    assert len(seen) == len(set(seen))
    assert set(expected_ids(sim)) <= set(seen)  # everything the server holds now was observed


async def test_computer_7_and_mobile_7_are_two_records(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(10, 10)
    seen, client = await pull_all(make_oauth(serve_jamf(sim)))
    assert ("computer", "7") in seen and ("mobile", "7") in seen
    assert len(seen) == 20 and client.reported_total == 20


# --- API versions --------------------------------------------------------------------------------


async def test_v4_not_served_falls_back_to_v3_and_remembers(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(300, computer_versions=("v3", "v2", "v1"))
    integration = make_oauth(serve_jamf(sim))
    seen, client = await pull_all(integration, page_size=100)
    assert len(seen) == 300 and client.computer_version == "v3"
    assert requests_to(sim, "/api/v4/computers-inventory") == 1
    assert requests_to(sim, "/api/v3/computers-inventory") == 3 + 1  # 3 pages, 1 gap check

    sim.reset_stats()
    await pull_all(integration, page_size=100, computer_version=client.computer_version)
    assert requests_to(sim, "/api/v4/computers-inventory") == 0  # not probed again


async def test_only_v1_served(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(50, computer_versions=("v1",))
    seen, client = await pull_all(make_oauth(serve_jamf(sim)))
    assert len(seen) == 50 and client.computer_version == "v1"


async def test_no_version_served_is_an_error(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(5, computer_versions=())
    with pytest.raises(NotServed, match="tried v4, v3, v2, v1"):
        await pull_all(make_oauth(serve_jamf(sim)))


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["oauth", "basic"])
async def test_token_revoked_mid_pull_is_reminted_once(
    serve_jamf: Any, make_oauth: Callable, make_basic: Callable, flavour: str
) -> None:
    sim = fleet(1000, 300)
    sim.scheduled.append(Scheduled(after_pages=2, action="revoke_tokens"))
    srv = serve_jamf(sim)
    integration = make_oauth(srv) if flavour == "oauth" else make_basic(srv)
    seen, client = await pull_all(integration, page_size=100)
    assert sorted(seen) == expected_ids(sim)
    assert sim.stats["unauthorized"] >= 1
    assert client.tokens.minted == 2
    assert sim.stats["token.oauth" if flavour == "oauth" else "token.user"] == 2


async def test_oauth_token_is_reminted_before_it_expires(serve_jamf: Any, make_oauth: Callable) -> None:
    """Controllable clock: renewed once less than its slack (a quarter of its life, at most 60 s)
    is left — before any 401 — and cached until then."""
    sim = fleet(30)  # OAuth tokens live 300 s
    clock = Clock()
    async with open_client(make_oauth(serve_jamf(sim)), policy=FAST, clock=clock) as client:
        first = await client.tokens.token()
        clock.now += 239.0  # 61 s left: still fresh
        assert await client.tokens.token() == first
        clock.now += 2.0  # 59 s left: renewed
        second = await client.tokens.token()
        pages = [page async for page in client.inventory()]
    assert second != first and client.tokens.minted == 2
    assert sim.stats["token.oauth"] == 2 and sim.stats["unauthorized"] == 0
    assert sum(len(p.records) for p in pages) == 30


async def test_user_token_is_kept_alive_near_expiry(serve_jamf: Any, make_basic: Callable) -> None:
    """Controllable clock: a 30-minute user token near its end is extended by keep-alive, not by a
    new login, and the extended token pulls without a 401."""
    sim = fleet(30)
    clock = Clock()
    async with open_client(make_basic(serve_jamf(sim)), policy=FAST, clock=clock) as client:
        first = await client.tokens.token()
        clock.now += 1745.0  # ~55 s left: within the slack, still valid -> keep-alive
        second = await client.tokens.token()
        pages = [page async for page in client.inventory()]
    assert second != first and client.tokens.kept_alive == 1  # type: ignore[attr-defined]
    assert sim.stats["token.keep_alive"] == 1 and sim.stats["token.user"] == 2  # one login + one keep-alive
    assert sim.stats["unauthorized"] == 0 and sum(len(p.records) for p in pages) == 30


async def test_expired_user_token_is_replaced_by_a_new_login(serve_jamf: Any, make_basic: Callable) -> None:
    """Fake clock: past expiry, keep-alive cannot work, so the provider logs in again."""
    sim = fleet(1)
    srv = serve_jamf(sim)
    now = [1000.0]
    async with open_client(make_basic(srv), policy=FAST) as client:
        client.tokens._clock = lambda: now[0]  # type: ignore[attr-defined]
        first = await client.tokens.token()
        now[0] += 1780.0  # 20 s left of 30 min: within the 60 s slack -> keep-alive
        second = await client.tokens.token()
        now[0] += 3600.0  # long past expiry -> a fresh login
        third = await client.tokens.token()
    assert len({first, second, third}) == 3
    assert sim.stats["token.keep_alive"] == 1 and sim.stats["token.user"] == 3


@pytest.mark.parametrize("flavour", ["oauth", "basic"])
async def test_wrong_credentials_fail_clearly_without_leaking(
    serve_jamf: Any, make_oauth: Callable, make_basic: Callable, flavour: str
) -> None:
    srv = serve_jamf(fleet(1))
    integration = (
        make_oauth(srv, client_secret="wrong-secret-123")
        if flavour == "oauth"
        else make_basic(srv, password="wrong-secret-123")
    )
    with pytest.raises(AuthError) as err:
        await pull_all(integration)
    assert "wrong-secret-123" not in str(err.value)
    assert ("invalid_client" if flavour == "oauth" else "INVALID_CREDENTIALS") in str(err.value)


# --- throttling and faults -----------------------------------------------------------------------


async def test_429_quota_violation_and_503_are_retried(
    serve_jamf: Any, make_oauth: Callable, waits: list[float]
) -> None:
    sim = fleet(500, 100)
    sim.faults += [
        Fault(status=429, count=2, retry_after=0.25, path="computers-inventory"),
        # Jamf Cloud's gateway throttle, recognised by its body whatever the status.
        Fault(status=400, count=1, quota_violation=True, path="computers-inventory"),
        Fault(status=503, count=1, path="mobile-devices"),
        Fault(status=500, count=1, quota_violation=True, path="/api/oauth/token"),
    ]
    seen, _ = await pull_all(make_oauth(serve_jamf(sim)), page_size=100)
    assert sorted(seen) == expected_ids(sim)
    assert sim.stats["faults"] == 5
    assert len(waits) == 5
    assert waits.count(0.25) == 2  # Retry-After honoured: exactly the server's value, not a backoff


async def test_retries_are_bounded(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(10)
    srv = serve_jamf(sim)
    sim.faults.append(Fault(status=503, count=100, path="computers-inventory"))
    with pytest.raises(JamfApiError) as err:
        await pull_all(make_oauth(srv))
    assert err.value.status == 503
    assert requests_to(sim, "/api/v4/computers-inventory") == FAST.max_attempts


@pytest.mark.parametrize(
    ("status", "body", "retryable"),
    [
        (429, b"", True),
        (500, b"", True),
        (503, b"", True),
        (400, b'{"fault":{"detail":{"errorcode":"policies.ratelimit.QuotaViolation"}}}', True),
        (400, b'{"httpStatus":400}', False),
        (404, b"", False),
        (401, b"", False),
        (200, b"policies.ratelimit.QuotaViolation in a device name", False),
    ],
)
@pytest.mark.unit
def test_what_is_retried(status: int, body: bytes, retryable: bool) -> None:
    assert is_retryable(httpx.Response(status, content=body)) is retryable


# --- transport -----------------------------------------------------------------------------------


async def test_https_is_verified_against_the_ca_bundle(serve_jamf: Any, make_oauth: Callable) -> None:
    srv = serve_jamf(fleet(3))
    with pytest.raises(httpx.ConnectError) as err:
        await pull_all(make_oauth(srv, ca_bundle=None))  # system trust store: the sim's CA is unknown
    assert isinstance(err.value.__context__, ssl.SSLCertVerificationError) or "CERTIFICATE" in str(err.value)


async def test_plain_http_works(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = fleet(30, 20)
    srv = serve_jamf(sim, use_tls=False)
    assert srv.base_url.startswith("http://")
    seen, _ = await pull_all(make_oauth(srv))
    assert Counter(kind for kind, _ in seen) == {"computer": 30, "mobile": 20}
