"""R-C2: a CSV import (`ImportDevices`) applies every row or none, with the rule `csv` (R-M11)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger_contracts import (
    CommandRejected,
    CreateDevice,
    DeviceFieldsInput,
    DevicesImported,
    ImportDevices,
    ImportRow,
    LedgerDeviceChanged,
)
from reconciler.model import Record

from .doubles import MemoryStore

pytestmark = pytest.mark.unit
T0 = datetime(2026, 11, 26, 6, tzinfo=UTC)


def fields(**kw: Any) -> DeviceFieldsInput:
    return DeviceFieldsInput(**kw)  # only these keys are set: what the file's columns are


def import_of(*rows: ImportRow) -> ImportDevices:
    return ImportDevices(tenant_id="t", import_id=uuid.uuid4(), rows=rows, occurred_at=T0)


class Ledger:
    def __init__(self) -> None:
        self.store = MemoryStore()
        self.offset = 0

    async def send(self, *messages: Any) -> list[Any]:
        before = len(self.store.events())
        records = []
        for m in messages:
            records.append(Record("commands", 0, self.offset, m))
            self.offset += 1
        await self.store.handle(records)
        return self.store.events()[before:]

    async def create(self, **kw: Any) -> uuid.UUID:
        device_id = uuid.uuid4()
        [event] = await self.send(CreateDevice(tenant_id="t", device_id=device_id, fields=fields(**kw)))
        assert isinstance(event, LedgerDeviceChanged)
        return device_id


async def test_rows_create_and_update_with_csv_provenance_then_one_summary() -> None:
    ledger = Ledger()
    a = await ledger.create(asset_number="A-1", model="Old", custom_fields={"cc": "IT", "keep": "x"})
    same = await ledger.create(asset_number="S-1")
    cmd = import_of(
        ImportRow(row=2, device_id=a, fields=fields(model="New", custom_fields={"cc": None})),
        ImportRow(row=3, fields=fields(asset_number="N-1", serial_number=" SN9 ", notes="")),
        ImportRow(row=4, device_id=same, fields=fields(asset_number="S-1")),
    )
    events = await ledger.send(cmd)
    *changes, done = events
    assert isinstance(done, DevicesImported)
    assert (done.import_id, done.command_id) == (cmd.import_id, cmd.event_id)
    assert (done.created, done.updated, done.unchanged) == (1, 1, 1)
    updated, created = changes
    assert updated.device_id == a and updated.version == 2
    assert updated.device.model == "New" and updated.device.custom_fields == {"keep": "x"}
    assert {(c.field, c.before, c.after, c.rule) for c in updated.changes} == {
        ("model", "Old", "New", "csv"),
        ("custom_fields.cc", "IT", None, "csv"),
    }
    assert updated.provenance.actor == "csv" and updated.provenance.command_id == cmd.event_id
    assert created.change == "created" and created.device_id == cmd.created_device_id(3)
    assert created.device.source == "manual"
    assert (created.device.serial_number, created.device.notes) == ("SN9", None)
    assert all(c.rule == "csv" for c in created.changes)


async def test_one_bad_row_rejects_the_whole_import_naming_it() -> None:
    ledger = Ledger()
    a = await ledger.create(asset_number="A-1")
    await ledger.create(asset_number="TAKEN")
    before = dict(ledger.store.devices)
    cmd = import_of(
        ImportRow(row=2, device_id=a, fields=fields(model="Changed")),
        ImportRow(row=3, fields=fields(asset_number="NEW-1")),
        ImportRow(row=4, fields=fields(asset_number=" taken")),  # another device's, spaces and case aside
        ImportRow(row=5, device_id=uuid.uuid4(), fields=fields(model="X")),
    )
    [rejected] = await ledger.send(cmd)
    assert isinstance(rejected, CommandRejected)
    assert rejected.command_id == cmd.event_id and rejected.code == "import_invalid"
    assert "row 4: asset number 'taken' belongs to device" in rejected.message
    assert "row 5: no device" in rejected.message and "row 2" not in rejected.message
    assert ledger.store.devices == before


async def test_asset_numbers_are_checked_on_the_final_state() -> None:
    ledger = Ledger()
    a = await ledger.create(asset_number="X")
    b = await ledger.create(asset_number="Y")
    # A swap is valid whatever the row order; a duplicate within the file is not.
    events = await ledger.send(
        import_of(
            ImportRow(row=2, device_id=a, fields=fields(asset_number="Y")),
            ImportRow(row=3, device_id=b, fields=fields(asset_number="X")),
        )
    )
    assert isinstance(events[-1], DevicesImported) and events[-1].updated == 2
    assert ledger.store.devices[a].asset_number == "Y" and ledger.store.devices[b].asset_number == "X"
    [rejected] = await ledger.send(
        import_of(
            ImportRow(row=2, fields=fields(asset_number="Z")),
            ImportRow(row=3, fields=fields(asset_number="z ")),
        )
    )
    assert isinstance(rejected, CommandRejected)
    assert "rows 2, 3: asset number 'Z' appears more than once" in rejected.message


async def test_the_same_import_delivered_twice_is_refused_the_second_time() -> None:
    ledger = Ledger()
    cmd = import_of(ImportRow(row=2, fields=fields(asset_number="ONCE")))
    assert isinstance((await ledger.send(cmd))[-1], DevicesImported)
    again = cmd.model_copy(update={"event_id": uuid.uuid4()})
    [rejected] = await ledger.send(again)
    assert isinstance(rejected, CommandRejected) and "row 2: already imported" in rejected.message
    assert len(ledger.store.devices) == 1


async def test_a_row_naming_a_device_twice_is_an_error() -> None:
    ledger = Ledger()
    a = await ledger.create(asset_number="A")
    [rejected] = await ledger.send(
        import_of(
            ImportRow(row=2, device_id=a, fields=fields(model="1")),
            ImportRow(row=7, device_id=a, fields=fields(model="2")),
        )
    )
    assert isinstance(rejected, CommandRejected) and "row 7: device" in rejected.message
    assert "also on row 2" in rejected.message
