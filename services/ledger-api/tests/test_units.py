"""Pure parts: the list query (fields, sort, cursor, SQL) and the projection plan."""

from __future__ import annotations

import ast
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ledger_api_testing import T0, device_changed, sync_run_summary

from ledger_api.adapters.repositories import device_listing as listing
from ledger_api.errors import InvalidParameter
from ledger_api.projection.decode import STAGE_COLUMNS as _STAGE_COLUMNS
from ledger_api.projection.decode import Decoded, decode_record
from ledger_api.projection.plan import plan_batch
from ledger_api.settings import Settings
from ledger_contracts import DeviceFieldsInput, UpdateDevice, codec

pytestmark = pytest.mark.unit


# --- listing ---------------------------------------------------------------------------------


def test_fields_default_keeps_the_list_light_and_always_has_the_id() -> None:
    assert "mdm" not in listing.parse_fields(None)
    assert listing.parse_fields("source, asset_number,source") == ("device_id", "source", "asset_number")


def test_unknown_fields_are_named() -> None:
    with pytest.raises(InvalidParameter) as exc:
        listing.parse_fields("asset_number,colour")
    assert exc.value.parameter == "fields" and "colour" in exc.value.message
    assert exc.value.details[0]["unknown"] == ["colour"]


def test_sort_accepts_the_whitelist_only() -> None:
    assert listing.Sort.parse(None) == listing.Sort("asset_number")
    assert listing.Sort.parse("-updated_at") == listing.Sort("updated_at", descending=True)
    with pytest.raises(InvalidParameter, match="sort"):
        listing.Sort.parse("device_id; DROP TABLE x")


def test_cursor_round_trips_and_is_bound_to_its_sort() -> None:
    sort = listing.Sort("updated_at", descending=True)
    dev = uuid.uuid4()
    key = listing.decode_cursor(listing.encode_cursor(sort, T0, dev), sort)
    assert key == listing.CursorKey(T0, dev)
    text_sort = listing.Sort("asset_number")
    assert listing.decode_cursor(listing.encode_cursor(text_sort, "", dev), text_sort).value == ""
    with pytest.raises(InvalidParameter, match="sort="):
        listing.decode_cursor(listing.encode_cursor(sort, T0, dev), text_sort)
    for junk in ("", "abc", "e30", "!!!"):
        with pytest.raises(InvalidParameter, match="cursor"):
            listing.decode_cursor(junk, sort)


def test_query_binds_every_value_and_escapes_like_wildcards() -> None:
    filters = listing.Filters(source="intune", q="50%_off", os="Win", missing_from_mdm=False)
    cursor = listing.CursorKey("A-7", uuid.UUID(int=3))
    sql, args = listing.build_query(
        "acme", filters, listing.Sort("asset_number", True), ("device_id",), cursor, 50
    )
    assert "50%" not in sql and "acme" not in sql
    assert args == ["acme", "intune", False, "win%", "%50\\%\\_off%", "A-7", uuid.UUID(int=3), 51]
    assert "ORDER BY coalesce(d.asset_number, '') DESC, d.device_id DESC" in sql
    assert "(coalesce(d.asset_number, ''), d.device_id) < ($6, $7)" in sql


# --- projection plan -------------------------------------------------------------------------


class Rec:
    def __init__(self, offset: int, value: bytes | None, partition: int = 0) -> None:
        self.partition, self.offset, self.key, self.value = partition, offset, b"acme", value


def _decoded(*events, start: int = 0) -> list[Decoded]:
    return [decode_record(Rec(start + i, codec.encode(e)[1])) for i, e in enumerate(events)]


def test_only_the_newest_change_of_a_device_writes_the_device_row() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    plan = plan_batch(
        _decoded(
            device_changed("acme", a, 2),
            device_changed("acme", a, 3, change="deleted"),
            device_changed("acme", a, 1),
            device_changed("acme", b, 1),
        ),
        {},
    )
    # Every change goes to the history; offsets 0 and 2 are older versions of device a.
    assert [(row[4], row[5]) for row in plan.change_rows] == [(a, 2), (a, 3), (a, 1), (b, 1)]
    assert sorted(plan.superseded) == [(0, 0), (0, 2)]
    assert plan.next_offsets == {0: 4}


def test_the_same_device_id_in_two_tenants_is_two_devices() -> None:
    a = uuid.uuid4()
    plan = plan_batch(_decoded(device_changed("acme", a, 1), device_changed("globex", a, 1)), {})
    assert len(plan.change_rows) == 2 and plan.superseded == []


def test_records_below_the_stored_offset_are_skipped() -> None:
    a = uuid.uuid4()
    decoded = _decoded(device_changed("acme", a, 1), device_changed("acme", a, 2))
    plan = plan_batch(decoded, {0: 1})
    assert plan.skipped == 1 and [row[5] for row in plan.change_rows] == [2]
    assert plan_batch(decoded, {0: 2}).change_rows == []


def test_poison_is_kept_with_its_reason() -> None:
    a = uuid.uuid4()
    bad_state = json.loads(codec.encode(device_changed("acme", a, 2))[1])
    bad_state["device"]["version"] = 9
    records = [
        Rec(0, b"{"),
        Rec(1, None),
        Rec(2, json.dumps(bad_state).encode()),
        Rec(3, codec.encode(device_changed("acme", a, 1))[1]),
    ]
    plan = plan_batch([decode_record(r) for r in records], {})
    assert [(p.offset, p.value) for p in plan.poison] == [(0, b"{"), (1, None), (2, records[2].value)]
    assert "tombstone" in plan.poison[1].error and "version" in plan.poison[2].error
    assert len(plan.change_rows) == 1 and plan.next_offsets == {0: 4}


def test_a_terminal_sync_status_is_final_within_a_batch() -> None:
    run = uuid.uuid4()
    events = [
        sync_run_summary("acme", run, "running", at=T0, seen=1),
        sync_run_summary("acme", run, "completed", at=T0 + timedelta(seconds=5), seen=9),
        sync_run_summary("acme", run, "running", at=T0 + timedelta(seconds=9), seen=3),
        sync_run_summary("acme", run, "failed", at=T0 + timedelta(seconds=10), seen=4),
    ]
    [kept] = plan_batch(_decoded(*events), {}).summaries
    assert (kept.status, kept.counts.seen) == ("completed", 9)


def test_the_staged_row_is_typed_with_canonical_json_documents() -> None:
    a, cmd = uuid.uuid4(), uuid.uuid4()
    event = device_changed("acme", a, 1, bound_to=("int-1", "m-1"), command_id=cmd, asset_number="A-1")
    raw = json.loads(codec.encode(event)[1])
    raw["device"]["mdm"]["enrolled_at"] = "2026-01-01T18:00:00+09:00"
    raw["device"]["last_seen_at"] = "2026-01-01T18:00:00+09:00"
    [d] = [decode_record(Rec(7, json.dumps(raw).encode(), partition=2))]
    row = dict(zip(_STAGE_COLUMNS, d.change_row, strict=True))
    assert (row["kafka_partition"], row["kafka_offset"], row["device_id"], row["version"]) == (2, 7, a, 1)
    assert row["asset_number"] == "A-1" and row["binding_mdm_device_id"] == "m-1"
    assert row["last_seen_at"] == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert json.loads(row["mdm"])["enrolled_at"] == "2026-01-01T09:00:00Z"
    assert json.loads(row["provenance"]) == {
        "actor": "manual",
        "integration_id": None,
        "sync_run_id": None,
        "command_id": str(cmd),
    }
    assert json.loads(row["changes"]) == [
        {"field": "asset_number", "before": None, "after": "A-1", "rule": "manual"}
    ]
    assert json.loads(row["custom_fields"]) == {}


# --- commands, settings, purity --------------------------------------------------------------


def test_an_update_command_carries_only_the_fields_set() -> None:
    fields = DeviceFieldsInput.model_validate_json(b'{"notes": null, "model": "X"}')
    command = UpdateDevice(tenant_id="acme", device_id=uuid.uuid4(), fields=fields)
    key, value = codec.encode(command)
    decoded = codec.decode(codec.command_adapter, value)
    assert key == b"acme" and decoded == command
    assert decoded.fields.model_fields_set == {"notes", "model"}


def test_settings_accept_socket_and_sqlalchemy_style_urls(monkeypatch) -> None:
    monkeypatch.setenv("LEDGER_API_DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/ledger")
    monkeypatch.setenv("LEDGER_API_LOG_LEVEL", "debug")
    s = Settings()  # type: ignore[call-arg]
    assert s.database_dsn() == "postgresql://u:p@db:5432/ledger" and s.log_level == "DEBUG"
    assert "p@db" not in repr(s)
    sock = Settings(database_url="postgresql://postgres:@/ledger?host=/tmp/pg")
    assert sock.database_dsn() == "postgresql://postgres:@/ledger?host=/tmp/pg"
    assert sock.consumer_group == "ledger-api" and sock.port == 8000 and sock.command_wait_seconds == 5


def test_the_pure_modules_do_no_io() -> None:
    src = Path(__file__).parents[1] / "src" / "ledger_api"
    pure = [
        src / "adapters" / "repositories" / "device_listing.py",
        src / "errors.py",
        src / "projection" / "decode.py",
        src / "projection" / "plan.py",
        *sorted((src / "domain").glob("*.py")),
        Path(__file__).parent / "ledger_api_testing.py",
    ]
    for name in pure:
        tree = ast.parse(name.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imported & {"asyncpg", "aiokafka", "fastapi", "httpx", "socket"}, name


def test_the_builder_binds_a_device_to_an_mdm_of_its_own_source() -> None:
    """Issue 14: a `jamf_pro` device built with `bound_to` gets a Jamf Pro binding, not an Intune one."""
    jamf = device_changed("acme", uuid.uuid4(), 1, bound_to=("int-jamf-1", "computer:7"), source="jamf_pro")
    assert jamf.device is not None and jamf.device.binding is not None and jamf.device.mdm is not None
    assert jamf.device.binding.mdm_kind == "jamf_pro" and jamf.device.source == "jamf_pro"
    assert jamf.device.mdm.jamf_id == "7" and jamf.device.mdm.registration_status is None
    intune = device_changed("acme", uuid.uuid4(), 1, bound_to=("int-intune-1", "m-1"))
    assert intune.device is not None and intune.device.binding is not None
    assert intune.device.binding.mdm_kind == "intune" and intune.device.source == "intune"
