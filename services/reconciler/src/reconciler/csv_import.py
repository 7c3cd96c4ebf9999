"""`ImportDevices` (R-C2) in the fold: its effects. The rules are in core/csv_import.py (what it
needs loaded is in handlers.needs); this only routes, like handlers.py does for the other commands.

The import is one record, so it is decided and written within the batch's one transaction: every
row applies, or the import is refused with a `CommandRejected` and nothing changes.
"""

from __future__ import annotations

import gc

from ledger_contracts import DevicesImported, ImportDevices

from .changes import record_outcome
from .core import Ledger, Rejected
from .core.csv_import import decide_import
from .model import Effects, event_id


def fold_import(msg: ImportDevices, ledger: Ledger, fx: Effects, topic: str) -> None:
    # 100,000 rows make a million short-lived models that form no cycles: the cyclic GC would
    # rescan them over and over (it doubled the time of a large import), so it waits.
    enabled = gc.isenabled()
    gc.disable()
    try:
        decision = decide_import(ledger, msg, msg.occurred_at)
        if isinstance(decision, Rejected):
            record_outcome(decision, msg, ledger, fx, topic)
            return
        for outcome in decision.outcomes:
            record_outcome(outcome, msg, ledger, fx, topic)
    finally:
        if enabled:
            gc.enable()
    fx.publish(
        topic,
        DevicesImported(
            event_id=event_id(msg, "imported"),
            occurred_at=msg.occurred_at,
            tenant_id=msg.tenant_id,
            import_id=msg.import_id,
            command_id=msg.event_id,
            created=decision.created,
            updated=decision.updated,
            unchanged=decision.unchanged,
        ),
    )
