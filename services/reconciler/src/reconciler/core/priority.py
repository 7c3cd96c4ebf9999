"""R-P1: a tenant's MDM priority — an ordered list of its integrations, optionally per OS family.

Pure: the store loads the tenant's `MdmPriority`; the core ranks the MDMs bound to a device with it.
Integrations the order does not name rank after the named ones, in the order given (the order in
which they were bound to the device: the MDM that bound first stays first). That is the default
(R-P1: the order in which the integrations came to the device) until a person sets an order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
