"""R-P1: a tenant's MDM priority — an ordered list of its integrations, optionally per OS family.

Pure: the store loads the tenant's `MdmPriority`; the core ranks the MDMs bound to a device with it.
Integrations the order does not name rank after the named ones, in the order given (the core gives
them by integration id). The default (R-P1, issue 11: "the order in which they were linked") is the
order in which the tenant's integrations were first linked (`link_order`, from each link's
`MasterLinkChanged(created)`), which the store appends to a person's order (`with_links`): so an
integration linked after an order was set ranks after the named ones, in link order, and only an
integration the reconciler never heard linked falls back to its id — never to which MDM happened
to bind a device first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

OS_FAMILIES = ("apple", "windows", "android")

_APPLE = ("macos", "mac os", "os x", "ios", "ipados", "tvos", "watchos", "visionos")


def os_family(os: str | None) -> str | None:
    """The OS family of a ledger OS value ("macOS (14.5)" -> "apple"), or None when unknown."""
    value = (os or "").strip().lower()
    if not value:
        return None
    if value.startswith(_APPLE):
        return "apple"
    if value.startswith("windows"):
        return "windows"
    if value.startswith("android"):
        return "android"
    return None


@dataclass(frozen=True)
class MdmPriority:
    """`order`: integration ids, highest priority first; `per_os_family`: an order per OS family
    (keys of `OS_FAMILIES`) that comes before `order` for devices of that family."""

    order: tuple[str, ...] = ()
    per_os_family: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def ranked(self, integration_ids: Iterable[str], os: str | None) -> list[str]:
        """`integration_ids` (in binding order) sorted by priority for a device running `os`."""
        family = os_family(os)
        preferred = (*self.per_os_family.get(family, ()), *self.order) if family else self.order
        rank: dict[str, int] = {}
        for i, integration in enumerate(preferred):
            rank.setdefault(integration, i)
        ids = list(dict.fromkeys(integration_ids))
        return sorted(ids, key=lambda i: (rank.get(i, len(preferred)), ids.index(i)))

    def with_links(self, linked: Iterable[str]) -> MdmPriority:
        """This priority followed by the tenant's link order (`link_order`) for the integrations it
        does not name: the default when nothing is set, the tail of an order set before a link."""
        order = tuple(dict.fromkeys((*self.order, *linked)))
        return self if order == self.order else MdmPriority(order, self.per_os_family)


def link_order(first_linked: Mapping[str, tuple[datetime, str]]) -> tuple[str, ...]:
    """R-P1 default: integration ids in the order they were first linked. `first_linked`: per
    integration, its first master link's creation (time, master link id) — the ledger API orders
    `GET /v1/mdm-priority`'s default the same way (created_at, master_link_id)."""
    return tuple(sorted(first_linked, key=lambda i: (*first_linked[i], i)))


def priority_of(raw: Mapping[str, object]) -> MdmPriority:
    """A stored priority ({"order": [...], "per_os_family": {family: [...]}}) back to a value."""
    order = raw.get("order") or []
    families = raw.get("per_os_family") or {}
    assert isinstance(order, list) and isinstance(families, dict), raw
    return MdmPriority(tuple(map(str, order)), {str(k): tuple(map(str, v)) for k, v in families.items()})


def priority_dict(priority: MdmPriority) -> dict[str, object]:
    return {
        "order": list(priority.order),
        "per_os_family": {k: list(v) for k, v in priority.per_os_family.items()},
    }
