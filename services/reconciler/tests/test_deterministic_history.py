"""R-M11 history is deterministic: the order of a manual edit's changes does not depend on the
process's hash seed, so a batch processed again after a restart publishes byte-identical events."""

from __future__ import annotations

import pytest

from ledger_contracts import DeviceFieldsInput
from reconciler.core import decide

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-M11")]


def test_manual_input_keeps_the_contracts_field_order_whatever_the_set_order() -> None:
    fields = DeviceFieldsInput.model_validate(
        {"notes": "n", "asset_number": " A-1 ", "status": "", "model": "M", "os": "macOS"}
    )
    # The contract's declared order, never the set's iteration order.
    assert list(decide._clean_input(fields)) == ["asset_number", "os", "model", "status", "notes"]
    assert (
        decide._clean_input(fields)["asset_number"] == "A-1" and decide._clean_input(fields)["status"] is None
    )
