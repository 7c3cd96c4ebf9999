"""The reconciler's functional core: every matching and precedence rule, and no I/O (STYLE §1)."""

from .conflicts import decide_resolution, settle_conflict, track_conflict
from .decide import REBOUND, apply, decide_create, decide_delete, decide_observation, decide_update
from .keys import clean_serial, is_placeholder, match_key, normalise
from .ledger import Ledger, binding_keys, binding_of
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
from .priority import OS_FAMILIES, MdmPriority, link_order, os_family, priority_dict, priority_of
from .rules import PRECEDENCE, mdm_values, proposed_asset_number, resolve_field
from .several import bindings_of, drop_binding, is_shared, mark_missing, recompose, reported_by_others

__all__ = [
    "OS_FAMILIES",
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
    "MdmPriority",
    "Outcome",
    "Rejected",
    "Resolved",
    "RunEnd",
    "RunEndDecision",
    "Unchanged",
    "Updated",
    "apply",
    "binding_keys",
    "binding_of",
    "bindings_of",
    "clean_serial",
    "command_verdict",
    "decide_create",
    "decide_delete",
    "decide_observation",
    "decide_resolution",
    "decide_run_end",
    "decide_unlink",
    "decide_update",
    "drop_binding",
    "is_placeholder",
    "is_shared",
    "link_order",
    "mark_missing",
    "match_key",
    "mdm_values",
    "normalise",
    "os_family",
    "partial_reason",
    "priority_dict",
    "priority_of",
    "proposed_asset_number",
    "recompose",
    "reported_by_others",
    "resolve_field",
    "run_verdict",
    "settle_conflict",
    "track_conflict",
]
