"""Issue 11 properties (R-P1–R-P4) over the whole fold and the in-memory store: a fleet partly
enrolled in two MDMs (same serials), synced in either order, with or without a priority set, the
links announced as created in either order or never (legacy links).

- priority order respected (R-P1/R-P3): each device is in the ledger once, bound to every MDM that
  reports it, its source is the highest-priority of them, and its MDM-first user is the value of the
  highest-priority MDM that reports one (with its origin). With no priority set the order is the
  one the links were created in (never announced: by integration id) — never the order of the syncs;
- removing an MDM never loses a device another MDM reports (R-P4): after unlinking one MDM (keep or
  delete), every device the other MDM reports is still there, bound to it, not missing;
- twice equals once: re-applying both snapshots, or the same priority, changes nothing.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger_contracts import (
    MasterLinkChanged,
    MasterLinkSettings,
    ObservedDevice,
    SetMdmPriority,
    UnlinkMasterLink,
)
from reconciler.core import binding_keys

from .doubles import MemoryStore
from .test_fold_properties import PROPS, Feed, handle

pytestmark = [pytest.mark.unit]

LINKS = {
    "i1": MasterLinkSettings(master_link_id="ml-i1", integration_id="i1", mdm_kind="intune"),
    "i2": MasterLinkSettings(master_link_id="ml-i2", integration_id="i2", mdm_kind="jamf_pro"),
}
OS = {"apple": "macOS (14.5)", "windows": "Windows (10.0.1)"}
users = st.sampled_from(["a@x", "b@x", None])

# One fleet entry: which MDMs report the serial, the user each reports, the OS family.
entry = st.tuples(st.booleans(), st.booleans(), users, users, st.sampled_from(sorted(OS)))
fleets = st.lists(entry, min_size=1, max_size=6).map(lambda f: [e for e in f if e[0] or e[1]])
priorities = st.one_of(
    st.none(),
    st.tuples(st.permutations(["i1", "i2"]), st.one_of(st.none(), st.permutations(["i1", "i2"]))),
)
# The order the links were announced as created (MasterLinkChanged), or never (legacy links).
link_orders = st.one_of(st.none(), st.permutations(["i1", "i2"]).map(tuple))


def snapshots(fleet: list[tuple]) -> dict[str, list[ObservedDevice]]:
    out: dict[str, list[ObservedDevice]] = {"i1": [], "i2": []}
    for k, (in1, in2, u1, u2, family) in enumerate(fleet):
        for integration, present, user in (("i1", in1, u1), ("i2", in2, u2)):
            if present:
                out[integration].append(
                    ObservedDevice(
                        mdm_device_id=f"{integration}-d{k}",
                        serial_number=f"SER{k}",
                        os=OS[family],
                        assigned_user=user,
                    )
                )
    return out


def priority_command(feed: Feed, prio: tuple) -> SetMdmPriority:
    order, apple = prio
    families = {"apple": tuple(apple)} if apple else {}
    return feed.event(  # type: ignore[return-value]
        SetMdmPriority, order=tuple(order), per_os_family=families, plan_id=uuid.uuid4()
    )


def ranked(prio: tuple | None, linked: tuple | None, family: str) -> list[str]:
    """The expected priority: the command's (per OS family first), else the order the links were
    created in, else (never announced) integration id order. The order of the syncs plays no part."""
    default = list(linked or ("i1", "i2"))
    if prio is None:
        return default
    order, apple = prio
    return list(apple) if family == "apple" and apple else list(order)


def build(
    fleet: list[tuple], first: str, prio: tuple | None, linked: tuple | None = None
) -> tuple[MemoryStore, Feed, dict]:
    store, feed, snaps = MemoryStore(), Feed(), snapshots(fleet)
    second = "i2" if first == "i1" else "i1"
    if linked is not None:  # the ledger API announces each link it creates (R-P1 default order)
        created = [feed.event(MasterLinkChanged, change="created", master_link=LINKS[i]) for i in linked]
        handle(store, created)
    handle(store, feed.run(LINKS[first], snaps[first]), feed.run(LINKS[second], snaps[second]))
    if prio is not None:
        handle(store, [priority_command(feed, prio)])
    return store, feed, snaps


def by_serial(store: MemoryStore) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in store.devices.values():
        out.setdefault(d.serial_number, []).append(d)
    return out


@pytest.mark.rule("R-P1")
@PROPS
@given(fleets, st.sampled_from(["i1", "i2"]), priorities, link_orders)
def test_priority_order_is_respected(fleet, first, prio, linked) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    store, _, _ = build(fleet, first, prio, linked)
    assert not [c for c in store.conflicts.values() if c.status == "open"], "no conflict for a shared device"
    devices = by_serial(store)
    for k, (in1, in2, u1, u2, family) in enumerate(fleet):
        (device,) = devices[f"SER{k}"]  # once each (R-P2)
        reporting = [i for i, present in (("i1", in1), ("i2", in2)) if present]
        assert sorted(i for i, _ in binding_keys(device)) == reporting
        order = [i for i in ranked(prio, linked, family) if i in reporting]
        assert device.source == LINKS[order[0]].mdm_kind and device.binding.integration_id == order[0]
        values = {"i1": u1, "i2": u2}
        giver = next((i for i in order if values[i]), None)
        assert device.assigned_user == (values[giver] if giver else None)
        if len(reporting) == 2:  # R-P3: each field's origin shown
            assert device.field_origins.get("assigned_user") == giver
        assert not device.missing_from_mdm


@pytest.mark.rule("R-P4")
@PROPS
@given(fleets, st.sampled_from(["i1", "i2"]), priorities, st.sampled_from(["i1", "i2"]), st.booleans())
def test_removing_an_mdm_never_loses_a_device_another_mdm_reports(fleet, first, prio, gone, keep) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    store, feed, _ = build(fleet, first, prio)
    link = LINKS[gone]
    unlink = feed.event(
        UnlinkMasterLink, master_link_id=link.master_link_id, integration_id=gone, keep_devices=keep
    )
    handle(store, [unlink])
    stays = "i2" if gone == "i1" else "i1"
    devices = by_serial(store)
    for k, (in1, in2, *_rest) in enumerate(fleet):
        still = {"i1": in1, "i2": in2}[stays]
        found = devices.get(f"SER{k}", [])
        if still:
            (device,) = found
            assert [i for i, _ in binding_keys(device)] == [stays]
            assert device.source == LINKS[stays].mdm_kind and not device.missing_from_mdm
        elif keep:  # R-S4 for what no other MDM reports
            (device,) = found
            assert device.source == "manual" and device.binding is None and not device.other_bindings
        else:  # R-S5
            assert found == []


@pytest.mark.rule("R-P3")
@PROPS
@given(fleets, st.sampled_from(["i1", "i2"]), priorities)
def test_twice_equals_once(fleet, first, prio) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    store, feed, snaps = build(fleet, first, prio)
    # Each MDM's first re-sync may record its full report once (a device bound to one MDM keeps
    # no copy of it); from then on re-applying anything changes nothing.
    handle(store, feed.run(LINKS["i1"], snaps["i1"]), feed.run(LINKS["i2"], snaps["i2"]))
    once, published = copy.deepcopy(store.devices), len(store.outbox)
    handle(store, feed.run(LINKS["i1"], snaps["i1"]), feed.run(LINKS["i2"], snaps["i2"]))
    if prio is not None:
        handle(store, [priority_command(feed, prio)])
    assert store.devices == once
    assert {e.type for e in store.events()[published:]} <= {"sync_run_summary"}
