"""The pull as a handler: events of a run, in memory (ListPublisher) against the real simulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from connector_kit import ListPublisher
from jamf_connector.service import JamfConnector, build_app
from jamf_connector.settings import Integration, Settings
from ledger_contracts import (
    DeviceObserved,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)
from mdm_sim.jamf import Fault, JamfSim, SimConfig, generate_computers, generate_mobiles

pytestmark = pytest.mark.integration  # the simulator in-process over loopback TLS; no broker


def sync_request(integration_id: str = "jamf-1", kind: str = "jamf_pro", **kw: Any) -> SyncRequested:
    return SyncRequested(
        tenant_id=kw.pop("tenant_id", "tenant-a"),
        sync_run_id=uuid.uuid4(),
        master_link=MasterLinkSettings(master_link_id="ml-1", integration_id=integration_id, mdm_kind=kind),  # type: ignore[arg-type]
        **kw,
    )


def connector(integration: Integration, publisher: ListPublisher, **settings: Any) -> JamfConnector:
    fast = {"retry_base_delay_s": 0.001, "retry_max_delay_s": 0.01, "max_attempts": 3, **settings}
    return build_app(
        Settings(**fast), publisher=publisher, integrations={integration.integration_id: integration}
    )


async def test_a_run_is_started_then_devices_then_completed(serve_jamf: Any, make_oauth: Callable) -> None:
    sim = JamfSim(generate_computers(250, seed=5), generate_mobiles(120, seed=5))
    integration = make_oauth(serve_jamf(sim))
    publisher = ListPublisher()
    request = sync_request(dry_run=True)

    outcome = await connector(integration, publisher, page_size=100).handle(request)

    events = publisher.events
    assert isinstance(events[0], SyncRunStarted) and events[0].dry_run is True
    assert events[0].master_link == request.master_link
    devices = [e for e in events[1:-1] if isinstance(e, DeviceObserved)]
    assert len(devices) == len(events) - 2 == 370
    ids = [d.device.mdm_device_id for d in devices]
    assert len(set(ids)) == 370 and "computer:7" in ids and "mobile:7" in ids
    assert all(e.tenant_id == "tenant-a" and e.sync_run_id == request.sync_run_id for e in events)
    assert all(d.integration_id == "jamf-1" and d.device.manufacturer == "Apple" for d in devices)
    done = events[-1]
    assert isinstance(done, SyncRunCompleted)
    assert (done.devices_observed, done.reported_total) == (370, 370)
    assert outcome.status == "completed" and outcome.devices_observed == 370


async def test_a_malformed_field_is_emptied_with_a_warning_and_the_device_kept(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    """R-M14: one bad timestamp empties that field; the device is published and named in a warning."""
    computers = generate_computers(20, seed=5)
    computers[3]["general"]["lastContactTime"] = "last tuesday"
    bad_id = computers[3]["id"]
    sim = JamfSim(computers, [])
    publisher = ListPublisher()
    outcome = await connector(make_oauth(serve_jamf(sim)), publisher).handle(sync_request())
    assert outcome is not None
    assert (outcome.status, outcome.devices_observed, outcome.with_warnings, outcome.skipped) == (
        "completed",
        20,
        1,
        0,
    )
    (warned,) = [e for e in publisher.events if isinstance(e, DeviceObserved) and e.warnings]
    assert warned.device.mdm_device_id == f"computer:{bad_id}"
    assert warned.device.mdm.last_check_in_at is None
    (issue,) = warned.warnings
    assert (issue.kind, issue.mdm_device_id, issue.field) == (
        "warning",
        f"computer:{bad_id}",
        "general.lastContactTime",
    )
    done = publisher.events[-1]
    assert isinstance(done, SyncRunCompleted)
    assert (done.devices_observed, done.reported_total, done.devices_with_warnings, done.devices_skipped) == (
        20,
        20,
        1,
        0,
    )


async def test_a_failed_pull_publishes_failed_and_never_completed(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = JamfSim(generate_computers(300, seed=5), generate_mobiles(10, seed=5))
    sim.faults.append(Fault(status=503, count=1000, path="mobile-devices"))  # computers fine, mobiles down
    publisher = ListPublisher()
    outcome = await connector(make_oauth(serve_jamf(sim)), publisher, page_size=100).handle(sync_request())
    kinds = [type(e) for e in publisher.events]
    assert kinds[0] is SyncRunStarted and kinds[-1] is SyncRunFailed
    assert SyncRunCompleted not in kinds
    failed = publisher.events[-1]
    assert isinstance(failed, SyncRunFailed)
    assert failed.devices_observed == 300 == outcome.devices_observed
    assert "503" in failed.error and "mobile-devices" in failed.error


async def test_wrong_credentials_fail_the_run_without_the_secret(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    publisher = ListPublisher()
    integration = make_oauth(serve_jamf(JamfSim([], [])), client_secret="s3cr3t-value")
    outcome = await connector(integration, publisher).handle(sync_request())
    failed = publisher.events[-1]
    assert isinstance(failed, SyncRunFailed) and outcome.status == "failed"
    assert "invalid_client" in failed.error and "s3cr3t-value" not in failed.error


async def test_an_unknown_integration_fails_the_run(serve_jamf: Any, make_oauth: Callable) -> None:
    publisher = ListPublisher()
    app = connector(make_oauth(serve_jamf(JamfSim([], []))), publisher)
    result = await app.handle(sync_request(integration_id="not-configured"))
    assert [type(e) for e in publisher.events] == [SyncRunFailed]
    assert "not-configured" in publisher.events[-1].error  # type: ignore[attr-defined]
    assert result is not None and result.status == "failed"


async def test_an_integration_added_to_the_file_later_is_found(
    serve_jamf: Any, make_oauth: Callable, tmp_path: Any
) -> None:
    """R-S3: a link made while the connector runs; the file is read again for an unknown id."""
    path = tmp_path / "integrations.json"
    path.write_text("{}")
    publisher = ListPublisher()
    app = build_app(Settings(integrations_file=path), publisher=publisher)
    srv = serve_jamf(JamfSim(generate_computers(3), []))
    path.write_text(json.dumps({"jamf-1": srv.integration("basic")}))
    result = await app.handle(sync_request())
    assert result is not None and (result.status, result.devices_observed) == ("completed", 3)


async def test_requests_for_other_mdms_are_ignored() -> None:
    publisher = ListPublisher()
    app = build_app(Settings(), publisher=publisher, integrations={})
    assert await app.handle(sync_request(kind="intune")) is None
    assert publisher.events == []


async def test_a_broker_failure_mid_pull_propagates_and_publishes_no_end(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    """Nothing can be published then: the request must stay uncommitted, to be pulled again."""
    publisher = ListPublisher()
    publisher.fail_after = 50
    app = connector(make_oauth(serve_jamf(JamfSim(generate_computers(200), []))), publisher)
    with pytest.raises(KafkaConnectionError):
        await app.handle(sync_request())
    assert len(publisher.events) == 50
    assert not any(isinstance(e, SyncRunCompleted | SyncRunFailed) for e in publisher.events)


async def test_the_api_version_that_answered_is_remembered_per_integration(
    serve_jamf: Any, make_oauth: Callable
) -> None:
    sim = JamfSim(generate_computers(5), [], SimConfig(computer_versions=("v2", "v1")))
    app = connector(make_oauth(serve_jamf(sim)), ListPublisher())
    await app.handle(sync_request())
    await app.handle(sync_request())
    assert sim.stats["requests GET /api/v4/computers-inventory"] == 1  # probed on the first run only
    assert sim.stats["requests GET /api/v3/computers-inventory"] == 1


async def test_an_empty_jamf_completes_with_zero(serve_jamf: Any, make_basic: Callable) -> None:
    publisher = ListPublisher()
    await connector(make_basic(serve_jamf(JamfSim([], []))), publisher).handle(sync_request())
    done = publisher.events[-1]
    assert isinstance(done, SyncRunCompleted) and (done.devices_observed, done.reported_total) == (0, 0)


def test_building_the_app_does_no_io(tmp_path: Any) -> None:
    path = tmp_path / "integrations.json"
    path.write_text('{"j": {"base_url": "https://jamf.invalid", "username": "u", "password": "p"}}')
    app = build_app(Settings(integrations_file=path, kafka_bootstrap_servers="127.0.0.1:1"))
    assert list(app.integrations) == ["j"]
    assert app.publisher is None  # no broker yet: nothing connected
