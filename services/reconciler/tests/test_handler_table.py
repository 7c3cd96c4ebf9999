"""Issue 8: the handler tables (handlers.py) route every message type of `mdm.snapshots.v1` and
`ledger.commands.v1`. mypy proves it statically (`assert_never`); this proves it at run time over
the contracts' golden samples, one per message type, so that a type added to a union without an
arm fails here too (`typing.assert_never` raises)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

from ledger_contracts import (
    CommandMessage,
    MasterLinkChanged,
    SetMdmPriority,
    SnapshotMessage,
    UnlinkMasterLink,
    codec,
)
from reconciler.handlers import Fold, needs, references
from reconciler.model import Record, State

pytestmark = pytest.mark.unit
GOLDEN = Path(__file__).resolve().parents[3] / "libs" / "contracts" / "tests" / "golden"
TOPICS = {"snapshots": codec.snapshot_adapter, "commands": codec.command_adapter}


def _members(union: Any) -> set[type]:
    return set(typing.get_args(typing.get_args(union)[0]))  # Annotated[A | B | ..., Field(...)]


def samples() -> list[Record]:
    out = []
    for i, path in enumerate(sorted(GOLDEN.glob("*.json"))):
        topic = path.name.split("__")[0]
        if topic in TOPICS:
            out.append(Record(topic, 0, i, codec.decode(TOPICS[topic], path.read_bytes())))
    return out


def test_the_golden_samples_cover_every_consumed_message_type() -> None:
    seen = {type(r.message) for r in samples()}
    assert seen == _members(SnapshotMessage) | _members(CommandMessage)


@pytest.mark.parametrize("rec", samples(), ids=lambda r: type(r.message).__name__)
def test_every_message_type_has_an_arm_in_each_table(rec: Record) -> None:
    runs, conflicts = references([rec])
    assert runs or conflicts or not hasattr(rec.message, "sync_run_id")
    assert rec.message.tenant_id in needs([rec], {}, {})
    fold = Fold(State(), {}, prefix="")
    if isinstance(rec.message, UnlinkMasterLink):  # chunked by pipeline.unlink, never folded
        with pytest.raises(AssertionError, match="an unlink reached the fold"):
            fold.handle(rec)
    elif isinstance(rec.message, MasterLinkChanged):  # applied by pipeline.link_changed (R-M12)
        with pytest.raises(AssertionError, match="a master-link change reached the fold"):
            fold.handle(rec)
    elif isinstance(rec.message, SetMdmPriority):  # planned/applied by pipeline.priority_changed (R-P1)
        with pytest.raises(AssertionError, match="a priority change reached the fold"):
            fold.handle(rec)
    else:
        fold.handle(rec)
