"""The reconciler's functional core: every matching and precedence rule, and no I/O (STYLE §1)."""

from .conflicts import decide_resolution, settle_conflict, track_conflict
from .decide import apply, decide_create, decide_delete, decide_observation, decide_update
from .keys import clean_serial, is_placeholder, match_key, normalise
from .ledger import Ledger
from .lifecycle import decide_run_end, decide_unlink, partial_reason
from .outcomes import (
    BindingKey,
    Conflict,
    ConflictRecord,
    Created,
    Deleted,
    Ignored,
    Outcome,
    Rejected,
    Resolved,
    RunEnd,
    RunEndDecision,
    Unchanged,
    Updated,
)
from .rules import PRECEDENCE, mdm_values, proposed_asset_number, resolve_field

__all__ = [
    "PRECEDENCE",
    "BindingKey",
    "Conflict",
    "ConflictRecord",
    "Created",
    "Deleted",
    "Ignored",
    "Ledger",
    "Outcome",
    "Rejected",
    "Resolved",
    "RunEnd",
    "RunEndDecision",
    "Unchanged",
    "Updated",
    "apply",
    "clean_serial",
    "decide_create",
    "decide_delete",
    "decide_observation",
    "decide_resolution",
    "decide_run_end",
    "decide_unlink",
    "decide_update",
    "is_placeholder",
    "match_key",
    "mdm_values",
    "normalise",
    "partial_reason",
    "proposed_asset_number",
    "resolve_field",
    "settle_conflict",
    "track_conflict",
]
