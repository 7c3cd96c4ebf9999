"""R-M12: one order per master link. Pure: which generation of a (tenant, integration) is current,
and what that means for a sync run or an unlink that names a generation.

The ledger API numbers every change of a master link (created, settings changed, unlinked) with a
generation per (tenant, integration) and puts the link's current generation on every sync request
(the connectors copy it onto `SyncRunStarted`). Commands and snapshots travel on different topics,
so the reconciler may see a run before the command that created its generation, or a run of a
generation that an unlink or a settings change has already superseded. Generation 0 is a producer
that predates R-M12: its work is accepted as before (no ordering can be promised for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

LinkChange = Literal["created", "settings_changed", "unlinked"]
Verdict = Literal["accept", "park", "refuse"]
_WORDS: dict[str, str] = {
    "created": "link created",
    "settings_changed": "settings changed",
    "unlinked": "unlinked",
}


@dataclass(frozen=True)
class LinkGeneration:
    """The current generation of a (tenant, integration) as the reconciler has applied it."""

    tenant_id: str
    integration_id: str
    master_link_id: str
    generation: int
    change: LinkChange
    at: datetime

    @property
    def removed(self) -> bool:
        return self.change == "unlinked"

    @property
    def key(self) -> tuple[str, str]:
        return (self.tenant_id, self.integration_id)

    def why(self) -> str:
        """The explanation a refused run or unlink carries."""
        return f"superseded by generation {self.generation} ({_WORDS[self.change]}) at {self.at.isoformat()}"


def run_verdict(current: LinkGeneration | None, generation: int) -> Verdict:
    """A run of `generation`: accepted when it is the current generation of a link that is on;
    parked when it is newer (the command that creates it has not been applied yet); refused when
    it is older, or of a link that was removed. Generation 0 (legacy) is always accepted."""
    if generation == 0:
        return "accept"
    applied = current.generation if current is not None else 0
    if generation > applied:
        return "park"
    if generation < applied or (current is not None and current.removed):
        return "refuse"
    return "accept"


def command_verdict(
    current: LinkGeneration | None, generation: int, change: LinkChange
) -> Literal["apply", "duplicate", "refuse"]:
    """A link command (MasterLinkChanged, UnlinkMasterLink) carrying `generation`: applied when it is
    newer than the current one; a redelivery of the current one is a duplicate (nothing to do);
    an older one is refused (an unlink that would hit a link created after it)."""
    applied = current.generation if current is not None else 0
    if generation > applied:
        return "apply"
    if current is not None and generation == applied and current.change == change:
        return "duplicate"
    return "refuse"
