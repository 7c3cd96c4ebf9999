"""The in-memory ledger's indexes and orders (issue 14, `make mutation`): re-putting a device moves
its index entries, conflict candidates come in an order of their content (R-M9, issue 9: never of
event-derived ids), and the asset-number owner and R-J3's SYS prefix. Literal examples only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger_contracts import Binding, BoundMdm, LedgerDevice
from reconciler.core import Ledger

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
# Ids whose set order (by hash) is not their sorted order, so only the id tie-break sorts them
IDS = [
    uuid.UUID("00000000-0000-0000-9e37-79b97f4a7c15"),
    uuid.UUID("00000000-0000-0001-3c6e-f372fe94f82a"),
    uuid.UUID("00000000-0000-0001-daa6-6d2c7ddf743f"),
    uuid.UUID("00000000-0000-0002-78dd-e6e5fd29f054"),
    uuid.UUID("00000000-0000-0003-1715-609f7c746c69"),
    uuid.UUID("00000000-0000-0003-b54c-da58fbbee87e"),
]
A, B = IDS[0], IDS[1]


def device(device_id: uuid.UUID, **fields: object) -> LedgerDevice:
    base: dict[str, object] = {
        "device_id": device_id,
        "tenant_id": "acme",
        "version": 1,
        "source": "manual",
        "created_at": T0,
        "updated_at": T0,
    }
    return LedgerDevice(**(base | fields))


def bound(device_id: uuid.UUID, integration: str, mdm_id: str, **fields: object) -> LedgerDevice:
    binding = Binding(integration_id=integration, mdm_kind="intune", mdm_device_id=mdm_id)
    return device(device_id, **({"source": "intune", "binding": binding} | fields))


def order(ledger: Ledger, key: str = "SN1") -> list[uuid.UUID]:
    return [d.device_id for d in ledger.candidates("serial_number", key)]


@pytest.mark.rule("R-M4")
def test_re_putting_a_device_moves_its_index_entries() -> None:
    ledger = Ledger.of("acme", [bound(A, "i1", "m1", serial_number="SN-1", asset_number="AS-1")])
    ledger.put(device(A, serial_number="SN-2", asset_number="AS-2"))
    assert ledger.candidates("serial_number", "SN-1") == []
    assert ledger.candidates("asset_number", "AS-1") == []
    assert order(ledger, "SN-2") == [A]
    assert ledger.by_binding == {}
    assert ledger.by_serial["SN-1"] == set()
    assert ledger.by_asset["AS-1"] == set()
    ledger.remove(A)
    assert ledger.by_serial["SN-2"] == set()
    assert ledger.by_asset["AS-2"] == set()
    assert ledger.devices == {}
    ledger.remove(A)  # removing what is not there is nothing
    assert ledger.devices == {}


@pytest.mark.rule("R-M9")
def test_bound_candidates_come_first_by_their_bindings() -> None:
    ledger = Ledger.of(
        "acme",
        [
            device(A, serial_number="SN1", source="intune"),  # unbound since an unlink kept it
            bound(B, "i2", "m1", serial_number="SN1"),
            bound(IDS[2], "i1", "m9", serial_number="SN1"),
        ],
    )
    assert order(ledger) == [IDS[2], B, A]


@pytest.mark.rule("R-M9")
def test_a_device_with_more_bindings_orders_by_all_of_them() -> None:
    two = bound(A, "i1", "m1", serial_number="SN1").model_copy(
        update={
            "other_bindings": (
                BoundMdm(binding=Binding(integration_id="i3", mdm_kind="jamf_pro", mdm_device_id="j3")),
            )
        }
    )
    ledger = Ledger.of("acme", [bound(B, "i1", "m1A", serial_number="SN1"), two])
    assert order(ledger) == [A, B]  # "i1/m1" then the next binding sorts before "i1/m1A"


@pytest.mark.rule("R-M9")
@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"source": "intune"}, {"source": "manual"}),
        ({"serial_number": "SN1"}, {"serial_number": "sn1"}),
        ({"asset_number": None}, {"asset_number": "A"}),
        ({"asset_number": "A"}, {"asset_number": "B"}),
        ({"model": None}, {"model": "A"}),
        ({"model": "A"}, {"model": "B"}),
        ({"assigned_user": None}, {"assigned_user": "A@x"}),
        ({"assigned_user": "a@x"}, {"assigned_user": "b@x"}),
    ],
)
def test_unbound_candidates_order_by_what_they_hold_not_by_id(
    first: dict[str, object], second: dict[str, object]
) -> None:
    base = {"serial_number": "SN1"}
    ledger = Ledger.of("acme", [device(A, **(base | second)), device(B, **(base | first))])
    assert order(ledger) == [B, A]
    ledger = Ledger.of("acme", [device(B, **(base | second)), device(A, **(base | first))])
    assert order(ledger) == [A, B]


@pytest.mark.rule("R-M9")
def test_unbound_candidates_without_a_serial_order_by_serial_in_the_asset_index() -> None:
    ledger = Ledger.of(
        "acme", [device(A, asset_number="AS1", serial_number="A"), device(B, asset_number="AS1")]
    )
    assert [d.device_id for d in ledger.candidates("asset_number", "AS1")] == [B, A]


@pytest.mark.rule("R-M9")
def test_candidates_holding_exactly_the_same_order_by_id() -> None:
    ledger = Ledger.of("acme", [device(i, serial_number="SN1") for i in reversed(IDS)])
    assert order(ledger) == IDS


@pytest.mark.rule("R-J3")
def test_the_owner_of_an_asset_number() -> None:
    ledger = Ledger.of(
        "acme",
        [
            device(B, asset_number="AS 1", model="B"),
            device(A, asset_number="as1", model="Z"),
            device(IDS[2], asset_number="XXXX"),
        ],
    )
    assert ledger.asset_number_owner("AS1") == B  # the first in content order, not the lower id
    assert ledger.asset_number_owner("a s 1") == B
    assert ledger.asset_number_owner("AS2") is None
    assert ledger.asset_number_owner("") is None
    assert ledger.asset_number_owner("   ") is None


@pytest.mark.rule("R-J3")
def test_an_asset_number_is_taken_only_by_another_device() -> None:
    ledger = Ledger.of("acme", [device(A, asset_number="AS-1"), device(B, asset_number="XXXX")])
    assert ledger.asset_number_taken("as-1", B) is True
    assert ledger.asset_number_taken("AS-1", A) is False
    assert ledger.asset_number_taken("AS-2", B) is False
    assert ledger.asset_number_taken("", A) is False
    assert ledger.asset_number_taken(" ", A) is False


@pytest.mark.rule("R-J3")
def test_a_device_keeps_its_own_asset_number_and_others_get_the_sys_prefix() -> None:
    ledger = Ledger.of("acme", [device(A, asset_number="AS-1"), device(B, asset_number="SYSAS-1")])
    assert ledger.unique_asset_number("AS-1", A) == "AS-1"
    assert ledger.unique_asset_number("SYSAS-1", B) == "SYSAS-1"
    assert ledger.unique_asset_number("AS-1", IDS[2]) == "SYSAS-1-2"
    assert ledger.unique_asset_number("AS-2", IDS[2]) == "AS-2"
