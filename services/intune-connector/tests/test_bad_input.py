"""Issue 9 item 7, the connector side: what Graph can send wrong, one test per case, each naming
its outcome (R-M14, R-M10): a field emptied with a warning, a record skipped and counted, or the
run failed with a clear error — and then no `SyncRunCompleted`, so nothing downstream treats a
partial pull as complete (no device is marked missing from it).

Graph is faked with respx (no socket); the connector is the real one, publishing into memory.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from connector_kit import ListPublisher, PullResult
from intune_connector.graph import LIST_PATH
from intune_connector.service import build_app
from intune_connector.settings import Integration, Settings
from ledger_contracts import (
    DeviceObserved,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

pytestmark = pytest.mark.unit

BASE = "https://graph.test"
LIST_URL = f"{BASE}{LIST_PATH}"
INTEGRATION = Integration(
    integration_id="int-1",
    azure_tenant_id="t",
    client_id="c",
    client_secret=SecretStr("s3cret-value"),
    graph_base_url=BASE,
)


class Tokens:
    def __init__(self) -> None:
        self.refreshes = 0

    async def token(self) -> str:
        return "tok"

    async def refresh(self) -> str:
        self.refreshes += 1
        return f"tok{self.refreshes}"


def device(i: int, **overrides: Any) -> dict[str, Any]:
    return {"id": f"dev-{i}", "deviceName": f"D{i}", "serialNumber": f"SN{i:05d}", **overrides}


def page_body(devices: list[Any], page: int, last: int, count: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"value": devices}
    if count is not None:
        body["@odata.count"] = count
    if page < last:
        body["@odata.nextLink"] = f"{LIST_URL}?page={page + 1}"
    return body


def serve(pages: dict[int, Any], *, count: int | None = None) -> respx.Route:
    """Page n answers `pages[n]`: a list of devices (a normal page), or an httpx.Response as is."""
    last = max(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "1"))
        got = pages[n]
        if isinstance(got, httpx.Response):
            return got
        return httpx.Response(200, json=page_body(got, n, last, count))

    return respx.get(url__startswith=LIST_URL).mock(side_effect=answer)


async def pull(tokens: Tokens | None = None) -> tuple[PullResult | None, list[Any]]:
    publisher = ListPublisher()
    settings = Settings(max_attempts=3, retry_base_delay_s=0.001, retry_max_delay_s=0.002)
    app = build_app(
        settings,
        integrations={"int-1": INTEGRATION},
        publisher=publisher,
        token_provider_factory=lambda _: tokens or Tokens(),
    )
    link = MasterLinkSettings(master_link_id="ml", integration_id="int-1", mdm_kind="intune")
    result = await app.handle(SyncRequested(tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=link))
    return result, publisher.events


def observed(events: list[Any]) -> list[DeviceObserved]:
    return [e for e in events if isinstance(e, DeviceObserved)]


def assert_failed_and_never_completed(events: list[Any], *, after_devices: int, error_part: str) -> str:
    assert isinstance(events[0], SyncRunStarted)
    assert not [e for e in events if isinstance(e, SyncRunCompleted)]
    failed = events[-1]
    assert isinstance(failed, SyncRunFailed) and failed.devices_observed == after_devices
    assert error_part in failed.error and "s3cret-value" not in failed.error
    return failed.error


@respx.mock
async def test_truncated_json_page_fails_the_run_clearly() -> None:
    serve({1: [device(1)], 2: httpx.Response(200, content=b'{"value": [{"id": "dev-2", "deviceNa')})
    result, events = await pull()
    error = assert_failed_and_never_completed(events, after_devices=1, error_part="page 2 that is not JSON")
    assert result is not None and result.status == "failed" and error.startswith("Graph managedDevices")


@respx.mock
async def test_wrong_types_empty_the_field_with_a_warning_and_keep_the_device() -> None:
    serve({1: [device(1, serialNumber=12345, totalStorageSpaceInBytes="lots"), device(2)]})
    result, events = await pull()
    assert result is not None and (result.status, result.devices_observed, result.with_warnings) == (
        "completed",
        2,
        1,
    )
    bad = observed(events)[0]
    assert bad.device.serial_number is None and bad.device.mdm.disk_capacity_gb is None
    assert sorted((w.mdm_device_id, w.field) for w in bad.warnings) == [
        ("dev-1", "serialNumber"),
        ("dev-1", "totalStorageSpaceInBytes"),
    ]
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and done.devices_with_warnings == 1


@respx.mock
async def test_null_where_a_device_object_is_expected_is_skipped_and_counted() -> None:
    serve({1: [device(1), None, {"deviceName": "no id"}, device(2)]})
    result, events = await pull()
    assert result is not None and (result.status, result.devices_observed, result.skipped) == (
        "completed",
        2,
        2,
    )
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and done.devices_skipped == 2
    assert [(s.kind, s.mdm_device_id, s.field) for s in done.skipped] == [
        ("skipped", None, "<root>"),
        ("skipped", None, "id"),
    ]


@respx.mock
async def test_null_where_the_page_array_is_expected_fails_the_run() -> None:
    serve({1: [device(1)], 2: httpx.Response(200, json={"value": None})})
    _, events = await pull()
    assert_failed_and_never_completed(events, after_devices=1, error_part="page 2 without a 'value' array")


@respx.mock
async def test_a_5_mb_string_empties_that_field_with_a_warning() -> None:
    serve({1: [device(1, deviceName="A" * 5_000_000)]})
    result, events = await pull()
    assert result is not None and result.status == "completed"
    (dev,) = observed(events)
    assert dev.device.device_name is None and dev.device.serial_number == "SN00001"
    ((field, reason),) = [(w.field, w.reason) for w in dev.warnings]
    assert field == "deviceName" and "5,000,000 characters" in reason


@respx.mock
async def test_invalid_utf8_in_a_page_fails_the_run_clearly() -> None:
    body = json.dumps({"value": [device(2)]}).encode().replace(b"D2", b"D\xff\xfe2")
    serve(
        {1: [device(1)], 2: httpx.Response(200, content=body, headers={"content-type": "application/json"})}
    )
    _, events = await pull()
    assert_failed_and_never_completed(events, after_devices=1, error_part="page 2 that is not JSON")


@respx.mock
async def test_the_same_id_on_two_pages_is_observed_once() -> None:
    serve({1: [device(1), device(2)], 2: [device(2, deviceName="renamed"), device(3)]}, count=3)
    result, events = await pull()
    assert [e.device.mdm_device_id for e in observed(events)] == ["dev-1", "dev-2", "dev-3"]
    assert result is not None and (result.status, result.devices_observed, result.skipped) == (
        "completed",
        3,
        0,
    )
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and (done.devices_observed, done.reported_total) == (3, 3)


@respx.mock
async def test_a_next_link_loop_fails_the_run_instead_of_paging_forever() -> None:
    looping = {"value": [device(1)], "@odata.nextLink": f"{LIST_URL}?page=1"}  # points back at itself
    route = respx.get(url__startswith=LIST_URL).mock(return_value=httpx.Response(200, json=looping))
    _, events = await pull()
    assert_failed_and_never_completed(events, after_devices=1, error_part="paging loop")
    assert route.call_count == 2  # the first page and its one repeat, then stop


@respx.mock
async def test_a_401_mid_pull_that_survives_a_fresh_token_fails_the_run() -> None:
    denied = httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})
    serve({1: [device(1)], 2: denied, 3: [device(3)]})
    tokens = Tokens()
    _, events = await pull(tokens)
    error = assert_failed_and_never_completed(events, after_devices=1, error_part="returned 401")
    assert "freshly issued token was rejected too" in error and tokens.refreshes == 1


@respx.mock
async def test_a_500_on_the_last_page_fails_the_run_after_bounded_retries() -> None:
    route = serve({1: [device(1)], 2: [device(2)], 3: httpx.Response(500)})
    _, events = await pull()
    assert_failed_and_never_completed(
        events, after_devices=2, error_part="gave up on page 3 after 3 attempts (last: 500)"
    )
    assert route.call_count == 2 + 3
