"""R-P1 (issue 14, `make mutation`): a tenant's MDM priority, pinned value by value — the OS family of
every OS name the ledger holds, the ranking of bound integrations (named first, per OS family before
the general order, unnamed ones after in binding order, ties), and the stored form both ways.
Literal examples only: no expected value is taken from the module's own constants."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.core import OS_FAMILIES, Ledger, MdmPriority, os_family, priority_dict, priority_of
from reconciler.core.priority import link_order

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-P1")]


@pytest.mark.parametrize(
    ("os", "family"),
    [
        ("macOS (14.5)", "apple"),
        ("Mac OS X (10.15.7)", "apple"),
        ("OS X (10.11)", "apple"),
        ("iOS (17.1)", "apple"),
        ("iPadOS (17.1)", "apple"),
        ("tvOS (17.0)", "apple"),
        ("watchOS (10.1)", "apple"),
        ("visionOS (1.0)", "apple"),
        ("MACOS", "apple"),
        ("  macOS (14.5)", "apple"),
        ("Windows (10.0.19045)", "windows"),
        ("windows", "windows"),
        ("\tWINDOWS 11 ", "windows"),
        ("Android (14)", "android"),
        ("ANDROID", "android"),
        ("Linux (6.1)", None),
        ("ChromeOS (120)", None),
        ("Fire OS (8)", None),
        ("My macOS", None),  # the family is the OS name's beginning, not a word anywhere in it
        ("(10.0.1)", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_the_os_family_of_a_ledger_os_value(os: str | None, family: str | None) -> None:
    assert os_family(os) == family


def test_the_os_families_a_priority_may_name() -> None:
    assert OS_FAMILIES == ("apple", "windows", "android")


def test_no_priority_keeps_the_binding_order() -> None:
    prio = MdmPriority()
    assert prio.order == ()
    assert dict(prio.per_os_family) == {}
    assert prio.ranked(["i2", "i1", "i3"], "macOS (14.5)") == ["i2", "i1", "i3"]
    assert prio.ranked(["i3", "i1"], None) == ["i3", "i1"]
    assert prio.ranked([], "Windows") == []


def test_an_integration_bound_twice_is_ranked_once_at_its_first_place() -> None:
    assert MdmPriority().ranked(["i2", "i1", "i2", "i1"], None) == ["i2", "i1"]
    assert MdmPriority(("i1",)).ranked(["i3", "i2", "i3"], None) == ["i3", "i2"]


def test_the_general_order_ranks_named_integrations_first() -> None:
    prio = MdmPriority(order=("i3", "i1"))
    assert prio.ranked(["i1", "i2", "i3"], None) == ["i3", "i1", "i2"]
    assert prio.ranked(["i1", "i3"], "Windows (10.0.1)") == ["i3", "i1"]
    assert prio.ranked(["i1"], None) == ["i1"]


def test_integrations_the_order_does_not_name_follow_in_binding_order() -> None:
    prio = MdmPriority(order=("i9", "i1"))  # i9 is not bound: it takes no place
    assert prio.ranked(["i4", "i1", "i2"], None) == ["i1", "i4", "i2"]
    assert prio.ranked(["i2", "i4", "i1"], None) == ["i1", "i2", "i4"]
    assert prio.ranked(["i5", "i6"], None) == ["i5", "i6"]
    assert prio.ranked(["i6", "i5"], None) == ["i6", "i5"]


def test_an_os_family_order_comes_before_the_general_order_for_that_family_only() -> None:
    prio = MdmPriority(order=("i1", "i2", "i3"), per_os_family={"apple": ("i3",), "windows": ("i2",)})
    assert prio.ranked(["i1", "i2", "i3"], "macOS (14.5)") == ["i3", "i1", "i2"]
    assert prio.ranked(["i1", "i2", "i3"], "iOS (17.1)") == ["i3", "i1", "i2"]
    assert prio.ranked(["i1", "i2", "i3"], "Windows (11)") == ["i2", "i1", "i3"]
    # A family without its own order, an OS of no family, and no OS: the general order
    assert prio.ranked(["i3", "i2", "i1"], "Android (14)") == ["i1", "i2", "i3"]
    assert prio.ranked(["i3", "i2", "i1"], "Linux") == ["i1", "i2", "i3"]
    assert prio.ranked(["i3", "i2", "i1"], None) == ["i1", "i2", "i3"]


def test_a_family_order_that_names_an_integration_again_keeps_its_first_place() -> None:
    # i2 is first for Apple devices although the general order names it last
    prio = MdmPriority(order=("i1", "i3", "i2"), per_os_family={"apple": ("i2", "i1")})
    assert prio.ranked(["i1", "i2", "i3"], "macOS") == ["i2", "i1", "i3"]
    assert prio.ranked(["i3", "i1", "i2"], "macOS") == ["i2", "i1", "i3"]
    assert prio.ranked(["i1", "i2", "i3"], "Windows") == ["i1", "i3", "i2"]


def test_a_family_order_alone_ranks_the_rest_in_binding_order() -> None:
    prio = MdmPriority(per_os_family={"android": ("i2",)})
    assert prio.ranked(["i1", "i3", "i2"], "Android (13)") == ["i2", "i1", "i3"]
    assert prio.ranked(["i1", "i3", "i2"], "macOS") == ["i1", "i3", "i2"]


def test_ranking_takes_any_iterable_once() -> None:
    prio = MdmPriority(order=("i2",))
    assert prio.ranked(iter(["i1", "i2"]), None) == ["i2", "i1"]
    assert prio.ranked(("i3", "i1"), None) == ["i3", "i1"]


def test_a_stored_priority_is_read_back() -> None:
    raw = {"order": ["i2", "i1"], "per_os_family": {"apple": ["i1"], "windows": ["i2", "i1"]}}
    assert priority_of(raw) == MdmPriority(("i2", "i1"), {"apple": ("i1",), "windows": ("i2", "i1")})
    prio = priority_of(raw)
    assert prio.order == ("i2", "i1")
    assert type(prio.order) is tuple
    assert all(type(v) is tuple for v in prio.per_os_family.values())


@pytest.mark.parametrize(
    "raw", [{}, {"order": None, "per_os_family": None}, {"order": [], "per_os_family": {}}]
)
def test_a_missing_or_empty_stored_priority_is_the_default(raw: dict[str, object]) -> None:
    prio = priority_of(raw)
    assert prio.order == ()
    assert dict(prio.per_os_family) == {}
    assert prio == MdmPriority()


def test_a_stored_priority_is_read_as_text() -> None:
    prio = priority_of({"order": [7, "i1"], "per_os_family": {"apple": [8]}})
    assert prio.order == ("7", "i1")
    assert dict(prio.per_os_family) == {"apple": ("8",)}


def test_only_the_order_or_only_the_families_may_be_stored() -> None:
    assert priority_of({"order": ["i1"]}) == MdmPriority(("i1",), {})
    assert priority_of({"per_os_family": {"android": ["i3"]}}) == MdmPriority((), {"android": ("i3",)})


@pytest.mark.parametrize(
    "raw",
    [
        {"order": "i1", "per_os_family": {}},
        {"order": ["i1"], "per_os_family": ["apple"]},
        {"order": ("i1",)},
    ],
)
def test_a_malformed_stored_priority_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(AssertionError):
        priority_of(raw)


def test_a_priority_is_stored_as_lists() -> None:
    stored = priority_dict(MdmPriority(("i2", "i1"), {"apple": ("i1",), "android": ()}))
    assert stored == {"order": ["i2", "i1"], "per_os_family": {"apple": ["i1"], "android": []}}
    assert type(stored["order"]) is list
    families = stored["per_os_family"]
    assert isinstance(families, dict)
    assert all(type(v) is list for v in families.values())
    assert priority_dict(MdmPriority()) == {"order": [], "per_os_family": {}}


def test_a_stored_priority_round_trips() -> None:
    prio = MdmPriority(("i3", "i1"), {"windows": ("i1",)})
    assert priority_of(priority_dict(prio)) == prio


def test_a_dry_run_fork_plans_with_the_tenants_priority() -> None:
    ledger = Ledger("acme", priority=MdmPriority(("i2", "i1"), {"apple": ("i1",)}))
    fork = ledger.fork()
    assert fork.priority == MdmPriority(("i2", "i1"), {"apple": ("i1",)})
    assert fork.priority.ranked(["i1", "i2"], None) == ["i2", "i1"]


T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_the_link_order_is_the_order_integrations_were_first_linked() -> None:
    assert link_order({"i2": (T0, "ml-b"), "i1": (T1, "ml-a"), "i3": (T1, "ml-c")}) == ("i2", "i1", "i3")
    # Linked at the same time: the master link's id, then the integration's id decide
    assert link_order({"i2": (T0, "ml-a"), "i1": (T0, "ml-b")}) == ("i2", "i1")
    assert link_order({"i2": (T0, "ml-a"), "i1": (T0, "ml-a")}) == ("i1", "i2")
    assert link_order({}) == ()


def test_with_links_is_the_default_when_nothing_is_set() -> None:
    assert MdmPriority().with_links(["i2", "i1"]) == MdmPriority(("i2", "i1"))
    assert MdmPriority().with_links(iter(["i3"])) == MdmPriority(("i3",))


def test_with_links_appends_integrations_the_order_does_not_name_and_keeps_the_families() -> None:
    prio = MdmPriority(("i3",), {"apple": ("i1",)})
    assert prio.with_links(["i1", "i3", "i2"]) == MdmPriority(("i3", "i1", "i2"), {"apple": ("i1",)})
    assert prio.with_links(["i1", "i1"]).order == ("i3", "i1")


def test_with_links_that_add_nothing_leave_the_priority_as_it_is() -> None:
    prio = MdmPriority(("i1", "i2"), {"windows": ("i2",)})
    assert prio.with_links(["i2", "i1"]) is prio
    assert prio.with_links([]) is prio
