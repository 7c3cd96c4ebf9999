"""Issue 9 item 7, the connector side: what Jamf Pro can send wrong, one test per case, each naming
its outcome (R-M14, R-M10): a field emptied with a warning, a record skipped and counted, or the
run failed with a clear error — and then no `SyncRunCompleted`, so nothing downstream treats a
partial pull as complete (no device is marked missing from it).

Jamf is faked with respx (no socket): an OAuth token endpoint, the computers inventory (paged,
sorted by id, RSQL id filters for the gap check) and an empty mobile inventory. The connector is
the real one, publishing into memory.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from connector_kit import ListPublisher, PullResult
from jamf_connector.service import build_app
from jamf_connector.settings import Settings, parse_integrations
from ledger_contracts import (
    DeviceObserved,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

pytestmark = pytest.mark.unit

BASE = "https://jamf.test"
COMPUTERS = f"{BASE}/api/v4/computers-inventory"
PAGE_SIZE = 2
Override = Callable[[int], httpx.Response | None]  # page number -> a response instead of the page


def computer(i: int, **general: Any) -> dict[str, Any]:
    return {
        "id": str(i),
        "general": {"name": f"Mac-{i}", **general},
        "hardware": {"serialNumber": f"C02X{i:06d}", "model": "MacBook Pro"},
    }


class FakeJamf:
    def __init__(self, records: list[Any], *, total: int | None = None, override: Override | None = None):
        self.records = records
        self.total = total  # what totalCount says (None: the truth)
        self.override = override or (lambda _: None)
        self.page_requests = 0

    def _ids(self, record: Any) -> int | None:
        return int(record["id"]) if isinstance(record, dict) and str(record.get("id", "")).isdigit() else None

    def computers(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        page, size = int(params["page"]), int(params["page-size"])
        rows = self.records
        if "filter" in params:  # the gap check: "(id>L;id<H),(id>X)"
            groups = re.findall(r"\(([^)]*)\)", params["filter"])

            def hit(rec: Any) -> bool:
                rid = self._ids(rec)
                for g in groups:
                    lo = re.search(r"id>(\d+)", g)
                    hi = re.search(r"id<(\d+)", g)
                    if rid is not None and (not lo or rid > int(lo[1])) and (not hi or rid < int(hi[1])):
                        return True
                return False

            rows = [r for r in rows if hit(r)]
            total = len(rows)
        else:
            self.page_requests += 1
            if (replaced := self.override(page)) is not None:
                return replaced
            total = self.total if self.total is not None else len(rows)
        return httpx.Response(
            200, json={"totalCount": total, "results": rows[page * size : (page + 1) * size]}
        )


def mount(jamf: FakeJamf) -> None:
    respx.post(f"{BASE}/api/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "tok", "expires_in": 300})
    )
    respx.get(url__startswith=COMPUTERS).mock(side_effect=jamf.computers)
    respx.get(url__startswith=f"{BASE}/api/v2/mobile-devices/detail").mock(
        return_value=httpx.Response(200, json={"totalCount": 0, "results": []})
    )


async def pull(jamf: FakeJamf) -> tuple[PullResult | None, list[Any]]:
    mount(jamf)
    integrations = parse_integrations(
        {"j1": {"base_url": BASE, "client_id": "c", "client_secret": "s3cret-value"}}
    )
    publisher = ListPublisher()
    # One request at a time: pages then arrive in order, so "how many devices before the failure"
    # is exact (bounded concurrency has its own test, test_concurrency.py).
    settings = Settings(
        page_size=PAGE_SIZE,
        max_concurrency=1,
        max_attempts=3,
        retry_base_delay_s=0.001,
        retry_max_delay_s=0.002,
    )
    app = build_app(settings, integrations=integrations, publisher=publisher)
    link = MasterLinkSettings(master_link_id="ml", integration_id="j1", mdm_kind="jamf_pro")
    result = await app.handle(SyncRequested(tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=link))
    return result, publisher.events


def observed_ids(events: list[Any]) -> list[str]:
    return [e.device.mdm_device_id for e in events if isinstance(e, DeviceObserved)]


def assert_failed_and_never_completed(events: list[Any], *, after_devices: int, error_part: str) -> None:
    assert isinstance(events[0], SyncRunStarted)
    assert not [e for e in events if isinstance(e, SyncRunCompleted)]
    failed = events[-1]
    assert isinstance(failed, SyncRunFailed) and failed.devices_observed == after_devices
    assert error_part in failed.error and "s3cret-value" not in failed.error


def on_page(n: int, response: httpx.Response) -> Override:
    return lambda page: response if page == n else None


@respx.mock
async def test_truncated_json_page_fails_the_run_clearly() -> None:
    truncated = httpx.Response(200, content=b'{"totalCount": 6, "results": [{"id": "3", "gen')
    _, events = await pull(FakeJamf([computer(i) for i in range(1, 7)], override=on_page(1, truncated)))
    assert_failed_and_never_completed(
        events, after_devices=2, error_part="computers-inventory page 1: not an inventory page"
    )


@respx.mock
async def test_wrong_types_empty_the_field_with_a_warning_and_keep_the_device() -> None:
    odd = {
        **computer(1),
        "general": ["not", "an", "object"],
        "storage": {"disks": [{"sizeMegabytes": "lots"}]},
    }
    result, events = await pull(FakeJamf([odd, computer(2)]))
    assert result is not None and (result.status, result.devices_observed, result.with_warnings) == (
        "completed",
        2,
        1,
    )
    (bad,) = [e for e in events if isinstance(e, DeviceObserved) and e.warnings]
    assert bad.device.device_name is None and bad.device.mdm.disk_capacity_gb is None
    assert bad.device.serial_number == "C02X000001"  # the rest of the record is kept
    assert sorted(w.field for w in bad.warnings) == ["general", "storage.disks.0.sizeMegabytes"]
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and done.devices_with_warnings == 1


@respx.mock
async def test_null_where_a_record_is_expected_is_skipped_and_counted() -> None:
    records = [computer(1), None, {"general": {"name": "no id"}}, computer(4)]
    result, events = await pull(FakeJamf(records))
    assert observed_ids(events) == ["computer:1", "computer:4"]
    assert result is not None and (result.status, result.skipped) == ("completed", 2)
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and done.devices_skipped == 2
    assert [(s.kind, s.field) for s in done.skipped] == [("skipped", "<record>"), ("skipped", "id")]


@respx.mock
async def test_null_sections_are_no_value_and_no_warning() -> None:
    result, _ = await pull(FakeJamf([{"id": "1", "general": None, "hardware": None, "storage": None}]))
    assert result is not None and (result.status, result.devices_observed, result.with_warnings) == (
        "completed",
        1,
        0,
    )


@respx.mock
async def test_a_5_mb_string_empties_that_field_with_a_warning() -> None:
    result, events = await pull(FakeJamf([computer(1, name="M" * 5_000_000)]))
    assert result is not None and result.status == "completed"
    (dev,) = [e for e in events if isinstance(e, DeviceObserved)]
    assert dev.device.device_name is None and dev.device.serial_number == "C02X000001"
    ((field, reason),) = [(w.field, w.reason) for w in dev.warnings]
    assert field == "general.name" and "5,000,000 characters" in reason


@respx.mock
async def test_invalid_utf8_in_a_page_fails_the_run_clearly() -> None:
    body = json.dumps({"totalCount": 4, "results": [computer(3), computer(4)]}).encode()
    broken = httpx.Response(200, content=body.replace(b"Mac-3", b"Mac-\xff\xfe"))
    _, events = await pull(FakeJamf([computer(i) for i in range(1, 5)], override=on_page(1, broken)))
    assert_failed_and_never_completed(
        events, after_devices=2, error_part="computers-inventory page 1: not an inventory page"
    )


@respx.mock
async def test_the_same_id_on_two_pages_is_observed_once() -> None:
    # Page 0 = ids 1, 2; page 1 serves 2 again (the inventory moved under the pull), then 3.
    moved = httpx.Response(200, json={"totalCount": 4, "results": [computer(2), computer(3)]})
    jamf = FakeJamf([computer(i) for i in range(1, 5)], override=on_page(1, moved))
    result, events = await pull(jamf)
    assert sorted(observed_ids(events)) == ["computer:1", "computer:2", "computer:3", "computer:4"]
    assert result is not None and (result.status, result.devices_observed) == ("completed", 4)


@respx.mock
async def test_a_total_count_that_claims_more_passes_the_claim_on_and_observes_what_exists() -> None:
    """Jamf says 10, serves 4: the run completes with the 4 and reports 10, so the mismatch is
    visible downstream (the reported total is what the MDM said, not what was fetched)."""
    result, events = await pull(FakeJamf([computer(i) for i in range(1, 5)], total=10))
    assert observed_ids(events) == [f"computer:{i}" for i in range(1, 5)]
    done = events[-1]
    assert isinstance(done, SyncRunCompleted) and (done.devices_observed, done.reported_total) == (4, 10)
    assert result is not None and result.status == "completed"


@respx.mock
async def test_a_total_count_that_claims_fewer_still_gets_every_device() -> None:
    """Jamf says 3, holds 7: paging stops early, the gap check (ids above the last one seen) finds
    the rest, so no device is missed (and none would be marked missing, R-M10)."""
    jamf = FakeJamf([computer(i) for i in range(1, 8)], total=3)
    result, events = await pull(jamf)
    assert sorted(observed_ids(events)) == sorted(f"computer:{i}" for i in range(1, 8))
    assert result is not None and (result.status, result.devices_observed) == ("completed", 7)


@respx.mock
async def test_a_401_mid_pull_that_survives_a_fresh_token_fails_the_run() -> None:
    denied = httpx.Response(401, json={"httpStatus": 401, "errors": [{"code": "INVALID_TOKEN"}]})
    _, events = await pull(FakeJamf([computer(i) for i in range(1, 7)], override=on_page(1, denied)))
    assert_failed_and_never_completed(
        events, after_devices=2, error_part="computers-inventory: 401 INVALID_TOKEN"
    )
    assert respx.calls.call_count > 0
    mints = [c for c in respx.calls if c.request.url.path == "/api/oauth/token"]
    assert len(mints) == 2  # the first token, and one re-mint after the 401


@respx.mock
async def test_a_500_on_the_last_page_fails_the_run_after_bounded_retries() -> None:
    jamf = FakeJamf([computer(i) for i in range(1, 7)], override=on_page(2, httpx.Response(500)))
    _, events = await pull(jamf)
    assert_failed_and_never_completed(events, after_devices=4, error_part="computers-inventory: 500")
    assert jamf.page_requests == 2 + 3  # pages 0 and 1, then 3 attempts at page 2
