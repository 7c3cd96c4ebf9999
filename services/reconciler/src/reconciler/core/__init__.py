"""The reconciler's functional core: every matching and precedence rule, and no I/O (STYLE §1)."""

from .decide import apply, decide_create, decide_delete, decide_observation, decide_update
from .keys import clean_serial, is_placeholder, match_key, normalise
from .ledger import Ledger
from .outcomes import Conflict, Created, Deleted, Outcome, Rejected, Unchanged, Updated
from .rules import PRECEDENCE, mdm_values, proposed_asset_number, resolve_field

__all__ = [
    "PRECEDENCE",
    "Conflict",
    "Created",
    "Deleted",
    "Ledger",
    "Outcome",
    "Rejected",
    "Unchanged",
    "Updated",
    "apply",
    "clean_serial",
    "decide_create",
    "decide_delete",
    "decide_observation",
    "decide_update",
    "is_placeholder",
    "match_key",
    "mdm_values",
    "normalise",
    "proposed_asset_number",
    "resolve_field",
]
