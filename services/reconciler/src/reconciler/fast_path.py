"""The no-change fast path (issue 12 item 1): an unchanged device costs little more than decoding it.

A digest (blake2b) of each APPLIED observation is kept per binding (tenant, integration, MDM id),
with the device it is bound to and the device's version right after that observation
(`reconciler.observation_digests`, migration 0004). The digest covers the master link's settings
(the whole `MasterLinkSettings`: matching key, asset-number source, generation, link id), whether
the record carried warnings (R-M14 `keep_empty`) and the observed device itself.

A `DeviceObserved` whose digest equals the stored one, while the device's version is still the
stored one, is `unchanged` without loading the device document or deciding anything: it is
counted and recorded in `run_seen` (R-M10/R-M13/R-M14 missing detection and counts stay exact)
and writes no device row, no outbox row and no event, exactly like the full path for an
unchanged device. Why that is the same decision:
- The core is a function of (the device's state, the observation, the link's settings, `keep_empty`)
  for a device found by its binding (R-M4: the binding wins before any key, former binding or
  ignore is looked at). Deciding the stored observation against the state it produced gives
  `Unchanged` (the rules are idempotent).
- The device's state is pinned by its version: every change of a device (a person's edit, an
  import, another binding's observation, marked missing, unbound, re-enrolled) raises it, so a
  manual edit of an MDM-first field in between makes the digest stale and the next sync takes
  the full path and restores the MDM value (R-I rules).
- The settings are in the digest, so a settings change (a new generation) invalidates it.
- A device bound to several MDMs (R-P) is never fast: its decision also depends on the tenant's
  MDM priority, which is not in the device's version.
- Within a batch, the fast path is taken only when the device is not in the batch's ledger: any
  other record that could read or change it (a command naming it, a key lookup that found it, a
  run end that found it unseen) loaded it, and then the full path decides as before.
- Runs matched by device name (R-M15) are never fast (decided as a whole at their end).
"""

from __future__ import annotations

import hashlib

from ledger_contracts import DeviceObserved, MasterLinkSettings

from .core import BindingKey, Ledger
from .model import Effects, Needs, State

DIGEST_SIZE = 16


class Digester:
    """Digests of observations; the settings' bytes are computed once per link of a batch."""

    def __init__(self) -> None:
        self._links: dict[int, tuple[MasterLinkSettings, bytes]] = {}

    def link_bytes(self, link: MasterLinkSettings) -> bytes:
        got = self._links.get(id(link))
        if got is None or got[0] is not link:
            got = self._links[id(link)] = (link, link.model_dump_json().encode())
        return got[1]

    def digest(self, link: MasterLinkSettings, msg: DeviceObserved) -> bytes:
        h = hashlib.blake2b(self.link_bytes(link), digest_size=DIGEST_SIZE)
        h.update(b"\x01" if msg.warnings else b"\x00")
        h.update(msg.device.model_dump_json().encode())
        return h.digest()


def eligible(link: MasterLinkSettings) -> bool:
    """R-M15 runs (matched by device name) are decided as a whole at their end: never fast."""
    return link.matching_key.mdm != "device_name"


def want(n: Needs, digester: Digester, link: MasterLinkSettings, msg: DeviceObserved) -> None:
    """Note the observation's digest in the batch's needs. A binding observed twice in one batch
    with different contents gets no digest (None): it always takes the full path."""
    if not eligible(link):
        return
    key = (link.integration_id, msg.device.mdm_device_id)
    d = digester.digest(link, msg)
    if n.digests.setdefault(key, d) != d:
        n.digests[key] = None


def unchanged(state: State, tenant_id: str, key: BindingKey, ledger: Ledger) -> bool:
    """The store found this binding's digest fresh, and nothing in the batch loaded its device."""
    fast = state.unchanged.get(tenant_id)
    return fast is not None and key in fast and ledger.bound_to(*key) is None


def remember(state: State, fx: Effects, tenant_id: str, key: BindingKey, ledger: Ledger) -> None:
    """After the full path decided an observation: keep its digest with the device's version now
    (a later record of the batch that changes the device makes it stale, as it should)."""
    digests = state.digests.get(tenant_id)
    if digests is None or (d := digests.get(key)) is None:
        return
    device = ledger.bound_to(*key)
    if device is None or getattr(device, "other_bindings", None):  # shared devices: never fast
        fx.digests.pop((tenant_id, *key), None)
        return
    fx.digests[(tenant_id, *key)] = (device.device_id, device.version, d)


def forget(fx: Effects, tenant_id: str, key: BindingKey) -> None:
    fx.digests.pop((tenant_id, *key), None)


__all__ = ["DIGEST_SIZE", "Digester", "eligible", "forget", "remember", "unchanged", "want"]
