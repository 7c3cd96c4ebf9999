"""Property-based tests of the matching core (hypothesis): invariants that hold for any fleet."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_contracts import (
    CreateDevice,
    DeviceFieldsInput,
    MasterLinkSettings,
    MatchingKey,
    ObservedDevice,
)
from reconciler.core import (
    Conflict,
    Created,
    Ledger,
    Unchanged,
    apply,
    decide_create,
    decide_observation,
    match_key,
    normalise,
)
from reconciler.core.keys import PLACEHOLDERS

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 26, tzinfo=UTC)

# Small alphabets so that collisions (shared serials, shared names, taken asset numbers) are common.
serials = st.one_of(
    st.sampled_from(["0", "", " ", "Default string", "To be filled by O.E.M.", "SN1", "sn1", "SN2", "SN 3"]),
    st.text(alphabet="AB12 ", min_size=0, max_size=4),
    st.none(),
)
names = st.sampled_from(["PC-1", "PC-2", "1A", "SYS1A", "", None])
mdm_ids = st.sampled_from([f"m{i}" for i in range(8)])
observed = st.builds(
    ObservedDevice,
    mdm_device_id=mdm_ids,
    serial_number=serials,
    uuid=st.sampled_from(["u1", "u2", "u3", None]),
    device_name=names,
    asset_tag=st.sampled_from(["1A", "SYS1A", None, None]),
    os=st.sampled_from(["iOS (17.5)", "macOS (14.4.1)", None]),
    assigned_user=st.sampled_from(["a@x", "b@x", None]),
)
links = st.builds(
    MasterLinkSettings,
    master_link_id=st.just("ml"),
    integration_id=st.sampled_from(["i1", "i2"]),
    mdm_kind=st.sampled_from(["intune", "jamf_pro"]),
    matching_key=st.builds(
        MatchingKey,
        mdm=st.sampled_from(["serial_number", "uuid"]),
        ledger=st.sampled_from(["serial_number", "asset_number"]),
    ),
    asset_number_source=st.sampled_from(["uuid", "device_name"]),
)
manual_devices = st.lists(st.builds(DeviceFieldsInput, serial_number=serials, asset_number=names), max_size=6)


def seeded_ledger(manuals: list[DeviceFieldsInput]) -> Ledger:
    ledger = Ledger("t")
    for i, fields in enumerate(manuals):
        cmd = CreateDevice(tenant_id="t", device_id=uuid.UUID(int=10_000 + i), fields=fields)
        apply(ledger, decide_create(ledger, cmd, NOW))  # rejected duplicates simply are not applied
    return ledger


def run(ledger: Ledger, link: MasterLinkSettings, snapshot: list[ObservedDevice], salt: int = 0) -> list:
    outs = []
    for i, o in enumerate(snapshot):
        out = decide_observation(ledger, link, uuid.UUID(int=1), o, NOW, uuid.UUID(int=salt * 1000 + i + 1))
        apply(ledger, out)
        outs.append(out)
    return outs


def dedupe(snapshot: list[ObservedDevice]) -> list[ObservedDevice]:
    """A connector dedupes by MDM id (one observation per MDM device per run)."""
    return list({o.mdm_device_id: o for o in snapshot}.values())


@settings(max_examples=300, deadline=None)
@given(manual_devices, links, st.lists(observed, max_size=12))
def test_applying_a_snapshot_twice_equals_once(manuals, link, snapshot) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    snapshot = dedupe(snapshot)
    ledger = seeded_ledger(manuals)
    run(ledger, link, snapshot)
    once = dict(ledger.devices)
    second = run(ledger, link, snapshot, salt=1)
    assert ledger.devices == once
    assert all(isinstance(o, Unchanged | Conflict) for o in second)


@settings(max_examples=300, deadline=None)
@given(manual_devices, st.lists(st.tuples(links, st.lists(observed, max_size=8)), max_size=3))
def test_no_two_devices_bound_to_one_mdm_device_and_asset_numbers_unique(manuals, runs) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    ledger = seeded_ledger(manuals)
    for salt, (link, snapshot) in enumerate(runs):
        run(ledger, link, dedupe(snapshot), salt=salt + 1)
    bindings = Counter(
        (d.binding.integration_id, d.binding.mdm_device_id) for d in ledger.devices.values() if d.binding
    )
    assert all(n == 1 for n in bindings.values())
    assets = Counter(normalise(d.asset_number) for d in ledger.devices.values() if d.asset_number)
    assert all(n == 1 for n in assets.values()), assets


@settings(max_examples=300, deadline=None)
@given(manual_devices, links, observed)
def test_an_empty_or_placeholder_key_never_matches(manuals, link, o) -> None:  # type: ignore[no-untyped-def]  # @given supplies the arguments
    ledger = seeded_ledger(manuals)
    key_value = o.serial_number if link.matching_key.mdm == "serial_number" else o.uuid
    (out,) = run(ledger, link, [o])
    if match_key(key_value) is None:
        assert isinstance(out, Created)
        assert len(ledger.devices) == len(seeded_ledger(manuals).devices) + 1


@given(st.sampled_from(sorted(PLACEHOLDERS)), st.sampled_from(["", " ", "  "]), st.booleans())
def test_placeholder_variants_in_any_case_and_spacing_never_match(p: str, pad: str, lower: bool) -> None:
    value = pad + (p.lower() if lower else p) + pad
    assert match_key(value) is None
