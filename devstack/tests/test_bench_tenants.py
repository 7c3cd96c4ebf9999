"""The scale-out bench's pure parts (issue 12 item 3): the tenants' bootstrap document is one the
ledger API accepts, the reconciler log parsing, the spread over partitions and reconcilers, and a
phase's aggregation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from devstack.bench_tenants import (
    bootstrap_tenants,
    cpu_columns,
    parse_batches,
    phase_summary,
    report,
    spread,
    tenant_ids,
)
from ledger_api.bootstrap import BootstrapFile

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


def test_every_tenant_gets_its_token_integration_and_link_and_the_api_accepts_the_document() -> None:
    tokens = {t: f"token-of-{t}-0123456789" for t in tenant_ids(3)}
    creds = {
        "azure_tenant_id": "8f2e9c1a-5b7d-4e3f-9a61-2c4d8e0b7f15",
        "client_id": "c",
        "client_secret": "s",
        "authority_url": "https://127.0.0.1:4443",
        "graph_base_url": "https://127.0.0.1:4443/v1.0",
        "ca_bundle": "/tmp/ca.pem",
    }
    link = {
        "master_link_id": "ml-intune",
        "integration_id": "int-intune-demo",
        "mdm_kind": "intune",
        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
        "asset_number_source": "uuid",
    }
    doc = BootstrapFile.model_validate_json(json.dumps(bootstrap_tenants(tokens, creds, link, "04:00")))
    assert [t.tenant_id for t in doc.tenants] == ["bench-0001", "bench-0002", "bench-0003"]
    for t in doc.tenants:
        assert [s.get_secret_value() for s in t.api_tokens] == [tokens[t.tenant_id]]
        assert [i.integration_id for i in t.integrations] == ["int-intune-demo"]
        assert t.integrations[0].credentials is not None
        (ml,) = t.master_links
        assert ml.master_link_id == "ml-intune"
        assert ml.schedule is not None and ml.schedule.local_time is not None
        assert ml.schedule.local_time.strftime("%H:%M") == "04:00"


def test_parse_batches_sums_records_and_unions_partitions_of_handled_batches_only() -> None:
    lines = [
        json.dumps({"event": "reconciler.started"}),
        json.dumps({"event": "batch.handled", "records": 500, "partitions": [3, 1]}),
        "not json",
        json.dumps({"event": "batch.handled", "records": 20, "partitions": [5]}),
        json.dumps({"event": "batch.kafka_commit_failed", "error": "rebalanced"}),
        json.dumps({"event": "batch.handled", "records": 7}),  # commands only: no snapshot partition
    ]
    assert parse_batches(lines) == {
        "records": 527,
        "batches": 3,
        "partitions": [1, 3, 5],
        "commits_refused": 1,
    }


def test_spread_counts_tenants_per_partition_and_per_reconciler() -> None:
    tenants = {"a": {0}, "b": {0}, "c": {2}, "d": {3}, "e": {3, 1}}
    s = spread(tenants, {"reconciler": [0, 2], "reconciler-2": [1, 3]}, partitions=4)
    assert s["tenants_per_partition"] == [2, 1, 1, 1]  # "e" counted once, on its lowest partition
    assert (s["min_per_partition"], s["max_per_partition"], s["empty_partitions"]) == (1, 2, 0)
    assert s["tenants_on_several_partitions"] == ["e"]
    assert s["reconcilers"]["reconciler"] == {"partitions": [0, 2], "tenants": 3}
    assert s["reconcilers"]["reconciler-2"] == {"partitions": [1, 3], "tenants": 2}
    assert s["moved_partitions"] == []


def test_spread_names_a_partition_two_reconcilers_handled_and_empty_partitions() -> None:
    s = spread({"a": {1}}, {"reconciler": [1], "reconciler-2": [1]}, partitions=3)
    assert s["tenants_per_partition"] == [0, 1, 0]
    assert s["empty_partitions"] == 2
    assert s["moved_partitions"] == [1]


def run(tenant: str, status: str, seen: int, seconds: float, created: int = 0) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "status": status,
        "seen": seen,
        "created": created,
        "unchanged": seen - created,
        "requested_at": T0,
        "finished_at": T0 + timedelta(seconds=seconds),
    }


def test_phase_summary_devices_per_second_run_durations_and_cpu_of_all_reconcilers() -> None:
    rows = [
        run("a", "completed", 500, 2.0, 500),
        run("b", "completed", 500, 4.0, 500),
        run("c", "failed", 0, 9.0),
    ]
    cpu = {"reconciler": 3.0, "reconciler-2": 1.5, "ledger-api": 0.5, "postgres": 2.3, "console": 0.01}
    p = phase_summary(rows, wall=10.0, cpu=cpu, requests_s=0.5)
    assert p["statuses"] == {"completed": 2, "failed": 1}
    assert (p["runs"], p["devices"], p["created"], p["unchanged"]) == (3, 1000, 1000, 0)
    assert p["devices_per_s"] == 100
    assert (p["run_s_p50"], p["run_s_max"]) == (4.0, 9.0)
    assert p["cpu_s_reconcilers"] == 4.5
    assert "console" not in p["cpu_s"]  # below 0.05 s: left out
    assert cpu_columns(p["cpu_s"]) == "3.0 + 1.5 / 0.5 / 0.0 / 2.3 / 0.0"


def test_report_has_a_row_per_phase_and_the_spread_per_reconciler_count() -> None:
    p = phase_summary([run("a", "completed", 500, 2.0)], wall=2.0, cpu={"reconciler": 1.0}, requests_s=0.1)
    s = spread({"a": {0}}, {"reconciler": [0]}, partitions=2)
    text = report(
        [
            {
                "reconcilers": 1,
                "phases": {"first full sync": p},
                "spread": s,
                "reconciler_logs": {"reconciler": {"records": 502, "batches": 2, "commits_refused": 0}},
            }
        ]
    )
    assert "| 1 | first full sync | 1 | 500 | 2.00 | 250 | 2.0 / 2.0 | 1.0 / 0.0 / 0.0 / 0.0 / 0.0 |" in text
    assert "tenants per partition [1, 0]" in text
    assert "reconciler     partitions [0] → 1 tenants, 502 records in 2 batches" in text
