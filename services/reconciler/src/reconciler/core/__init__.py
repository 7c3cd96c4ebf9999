"""The reconciler's functional core: every matching and precedence rule, and no I/O (STYLE §1)."""

from .conflicts import decide_resolution, settle_conflict, track_conflict
from .decide import REBOUND, apply, decide_create, decide_delete, decide_observation, decide_update
from .keys import clean_serial, is_placeholder, match_key, normalise
from .ledger import Ledger
from .lifecycle import decide_run_end, decide_unlink, partial_reason
from .ordering import LinkChange, LinkGeneration, command_verdict, run_verdict
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
    "REBOUND",
    "BindingKey",
    "Conflict",
    "ConflictRecord",
    "Created",
    "Deleted",
    "Ignored",
    "Ledger",
    "LinkChange",
    "LinkGeneration",
    "Outcome",
    "Rejected",
    "Resolved",
    "RunEnd",
    "RunEndDecision",
    "Unchanged",
    "Updated",
    "apply",
    "clean_serial",
    "command_verdict",
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
    "run_verdict",
    "settle_conflict",
    "track_conflict",
]
