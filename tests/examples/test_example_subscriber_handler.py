"""The example subscriber's handler in memory (FastStream's TestKafkaBroker, no broker): typed
decoding of `ChangeMessage`, idempotency by (device_id, version), and the tenant key check (SPEC §9,
issue 8 item 3). Its acks and the real broker are covered by tests/e2e/test_example_subscriber.py."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import uuid
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

from ledger_contracts import LedgerDeviceChanged, Provenance, SyncRunSummary, topics

pytestmark = pytest.mark.unit

# examples/ is not an installed package: load the file other teams copy, as it is.
_PATH = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "subscriber.py"
_spec = importlib.util.spec_from_file_location("example_subscriber", _PATH)
assert _spec is not None and _spec.loader is not None
example = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = example  # dataclasses look their module up
_spec.loader.exec_module(example)


def change(device_id: uuid.UUID, version: int, kind: str = "updated") -> LedgerDeviceChanged:
    return LedgerDeviceChanged(
        tenant_id="acme",
        change=kind,
        device_id=device_id,
        version=version,
        provenance=Provenance(actor="manual"),
    )


async def test_applies_each_version_once_and_ignores_other_messages() -> None:
    out = io.StringIO()
    seen: list[str] = []
    mirror = example.DeviceMirror(out=out)
    broker = example.build_broker("unused:9092", mirror=mirror, on_message=lambda m: seen.append(m.type))
    device = uuid.uuid4()
    async with TestKafkaBroker(broker) as br:
        for ev in (change(device, 1, "created"), change(device, 2), change(device, 2), change(device, 1)):
            await br.publish(ev.model_dump(mode="json"), topics.CHANGES, key=b"acme")
        summary = SyncRunSummary(
            tenant_id="acme",
            sync_run_id=uuid.uuid4(),
            master_link_id="ml",
            integration_id="i",
            status="completed",
        )
        await br.publish(summary.model_dump(mode="json"), topics.CHANGES, key=b"acme")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(line["change"], line["version"]) for line in lines] == [("created", 1), ("updated", 2)]
    assert seen == ["device_changed"] * 4 + ["sync_run_summary"]  # decoded into the contract classes


async def test_a_record_keyed_by_another_tenant_is_refused_and_nothing_applied() -> None:
    mirror = example.DeviceMirror(out=io.StringIO())
    broker = example.build_broker("unused:9092", mirror=mirror, topic_prefix="t1.")
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ValueError, match="is not the tenant id"):
            await br.publish(
                change(uuid.uuid4(), 1, "created").model_dump(mode="json"),
                "t1." + topics.CHANGES,
                key=b"globex",
            )
    assert mirror.versions == {}
