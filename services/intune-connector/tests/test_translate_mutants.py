"""Mutation-driven tests of the Intune translator (issue 14, `make mutation`): the details surviving
mutants changed unnoticed — the messages a skipped record and a warning carry, the id length limit,
the placeholder wrapper. Literal expected values only."""

from __future__ import annotations

import pytest

from intune_connector.translate import MalformedDevice, is_placeholder_serial, translate_device
from ledger_contracts import RecordIssue

pytestmark = pytest.mark.unit

ID = "5f2b8c1e-0c2f-4a47-9a7e-3b1d0e9c4a11"


def test_a_malformed_device_names_the_device_or_says_it_has_none() -> None:
    assert str(MalformedDevice(None, "id", "is bad")) == "managedDevice <no id>: field 'id' is bad"
    assert str(MalformedDevice(ID, "model", "is bad")) == f"managedDevice {ID}: field 'model' is bad"


@pytest.mark.rule("R-M14")
def test_a_payload_that_is_no_object_is_refused_naming_its_type() -> None:
    with pytest.raises(MalformedDevice) as refused:
        translate_device(["not", "an", "object"])
    assert str(refused.value) == "managedDevice <no id>: field '<root>' must be a JSON object, got list"


@pytest.mark.rule("R-M14")
def test_a_record_without_a_usable_id_is_refused_with_the_reason() -> None:
    with pytest.raises(MalformedDevice) as refused:
        translate_device({"id": "   ", "deviceName": "PC-1"})
    assert str(refused.value) == "managedDevice <no id>: field 'id' is missing or not a usable id string"
    assert (refused.value.device_id, refused.value.field) == (None, "id")


def test_an_id_of_200_characters_is_kept_and_201_is_no_id() -> None:
    assert translate_device({"id": "a" * 200}).device.mdm_device_id == "a" * 200
    with pytest.raises(MalformedDevice):
        translate_device({"id": "a" * 201})


@pytest.mark.rule("R-I2", "R-M14")
def test_a_version_without_an_os_name_empties_os_with_a_named_warning() -> None:
    out = translate_device({"id": ID, "operatingSystem": "", "osVersion": "10.0.22631.4460"})
    assert out.device.os is None
    assert out.warnings == (
        RecordIssue(
            kind="warning",
            mdm_device_id=ID,
            field="operatingSystem",
            reason="missing while osVersion is set; os left empty",
        ),
    )


@pytest.mark.rule("R-I1")
def test_the_placeholder_check_looks_at_the_value_given() -> None:
    assert is_placeholder_serial("To be filled by O.E.M.") is True
    assert is_placeholder_serial("PF3XK2LM") is False
