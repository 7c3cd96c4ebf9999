"""Every field the Jamf translator reads, both record kinds (issue 14, `make mutation`; R-M14): a
malformed value is emptied with a warning that names exactly Jamf's field, and a number is read as
text only where Jamf may send one (ids, names, tags, versions, usernames), else warned. Literal
field paths and values only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jamf_connector.translate import MalformedDevice, mobile_os_family, translate

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-M14")]

SAMPLES = Path(__file__).parent / "samples"


def _first(name: str) -> dict[str, Any]:
    records = json.loads((SAMPLES / name).read_text())
    return copy.deepcopy(records["results"][0] if isinstance(records, dict) else records[0])


def computer() -> dict[str, Any]:
    return _first("computers-inventory-v2-docs-example.json")


def mobile() -> dict[str, Any]:
    raw = _first("mobile-devices-detail-v2-partial.json")
    raw["userAndLocation"] = {"emailAddress": "kim@x", "username": "kim"}
    raw["general"]["name"] = "iPad-name"
    raw["general"]["assetTag"] = "T-1"
    raw["general"]["lastContactDate"] = "2026-11-01T09:00:00Z"
    return raw


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


# (field path, other fields set to None first so that the field is read at all)
COMPUTER_FIELDS = [
    ("udid", ()),
    ("general.udid", ("udid",)),
    ("operatingSystem.name", ()),
    ("operatingSystem.version", ()),
    ("hardware.serialNumber", ()),
    ("general.name", ()),
    ("general.assetTag", ()),
    ("userAndLocation.email", ()),
    ("userAndLocation.username", ()),
    ("general.lastEnrolledDate", ()),
    ("general.lastContactTime", ()),
    ("general.remoteManagement.managed", ()),
    ("general.supervised", ()),
    ("hardware.model", ()),
    ("hardware.modelIdentifier", ("hardware.model",)),  # read when there is no model
]
MOBILE_FIELDS = [
    ("general.osVersion", ()),
    ("deviceType", ()),
    ("hardware.modelIdentifier", ()),
    ("general.lastContactDate", ()),
    ("general.lastInventoryUpdateDate", ("general.lastContactDate",)),
    ("general.displayName", ()),
    ("general.name", ("general.displayName",)),
    ("hardware.serialNumber", ()),
    ("general.udid", ()),
    ("general.assetTag", ()),
    ("userAndLocation.emailAddress", ()),
    ("userAndLocation.username", ()),
    ("general.lastEnrolledDate", ()),
    ("hardware.capacityMb", ()),
    ("general.managed", ()),
    ("general.supervised", ()),
]


@pytest.mark.parametrize(("path", "cleared"), COMPUTER_FIELDS)
def test_a_malformed_computer_field_is_warned_by_its_name(path: str, cleared: tuple[str, ...]) -> None:
    raw = computer()
    for other in cleared:
        _set(raw, other, None)
    _set(raw, path, ["not", "a", "value"])
    device, warnings = translate("computer", raw)
    assert device.mdm_device_id == "computer:1"
    assert [w.field for w in warnings] == [path]
    assert all(w.kind == "warning" and w.mdm_device_id == "computer:1" for w in warnings)


@pytest.mark.parametrize(("path", "cleared"), MOBILE_FIELDS)
def test_a_malformed_mobile_field_is_warned_by_its_name(path: str, cleared: tuple[str, ...]) -> None:
    raw = mobile()
    for other in cleared:
        _set(raw, other, None)
    _set(raw, path, ["not", "a", "value"])
    device, warnings = translate("mobile", raw)
    assert [w.field for w in warnings] == [path]
    assert all(w.kind == "warning" and w.mdm_device_id == device.mdm_device_id for w in warnings)


def test_a_malformed_mobile_model_is_warned_where_it_is_read() -> None:
    raw = mobile()
    _set(raw, "hardware.model", ["iPad"])
    device, warnings = translate("mobile", raw)
    assert device.model == "iPad15,7"  # the model identifier instead
    assert [w.field for w in warnings] == ["hardware.model", "hardware.model"]  # OS family, model


def test_numbers_where_a_computer_may_send_them_are_read_as_text() -> None:
    raw = computer()
    for path, value in [
        ("hardware.serialNumber", 123456789012),
        ("general.name", 4711),
        ("general.assetTag", 304822),
        ("userAndLocation.username", 1001),
        ("userAndLocation.email", None),
        ("operatingSystem.version", 14),
    ]:
        _set(raw, path, value)
    device, warnings = translate("computer", raw)
    assert warnings == ()
    assert device.serial_number == "123456789012"
    assert device.device_name == "4711"
    assert device.asset_tag == "304822"
    assert device.assigned_user == "1001"
    assert device.mdm.username == "1001"
    assert device.os == "macOS (14)"


def test_numbers_where_a_mobile_may_send_them_are_read_as_text() -> None:
    raw = mobile()
    for path, value in [
        ("hardware.serialNumber", 987654321),
        ("general.displayName", None),
        ("general.name", 42),
        ("general.assetTag", 7),
        ("userAndLocation.username", 1002),
        ("userAndLocation.emailAddress", None),
        ("general.osVersion", 18),
    ]:
        _set(raw, path, value)
    device, warnings = translate("mobile", raw)
    assert warnings == ()
    assert device.serial_number == "987654321"
    assert device.device_name == "42"
    assert device.asset_tag == "7"
    assert device.assigned_user == "1002"
    assert device.os == "iPadOS (18)"
    raw["general"]["displayName"] = 43
    device, warnings = translate("mobile", raw)
    assert (device.device_name, warnings) == ("43", ())


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("computer", "udid"),
        ("computer", "operatingSystem.name"),
        ("computer", "userAndLocation.email"),
        ("computer", "hardware.model"),
        ("mobile", "deviceType"),
        ("mobile", "hardware.modelIdentifier"),
        ("mobile", "general.udid"),
        ("mobile", "userAndLocation.emailAddress"),
        ("mobile", "general.lastContactDate"),
    ],
)
def test_a_number_where_jamf_sends_text_is_warned(kind: str, path: str) -> None:
    raw = computer() if kind == "computer" else mobile()
    _set(raw, path, 12345)
    _, warnings = translate(kind, raw)  # type: ignore[arg-type]
    assert [w.field for w in warnings] == [path]


@pytest.mark.parametrize(
    ("kind", "record", "field", "reason", "text"),
    [
        ("mobile", 5, "<record>", "expected a JSON object, got int", "malformed Jamf mobile record <no id>"),
        (
            "computer",
            ["x"],
            "<record>",
            "expected a JSON object, got list",
            "malformed Jamf computer record <no id>",
        ),
        ("mobile", {}, "mobileDeviceId", "missing", "malformed Jamf mobile record <no id>"),
        ("computer", {"id": None}, "id", "missing", "malformed Jamf computer record <no id>"),
        ("computer", {"id": ["1"]}, "id", "not a usable id (list)", "malformed Jamf computer record <no id>"),
        ("computer", {"id": True}, "id", "not a usable id (bool)", "malformed Jamf computer record <no id>"),
        ("computer", {"id": "  "}, "id", "not a usable id (str)", "malformed Jamf computer record <no id>"),
        (
            "computer",
            {"id": "9" * 65},
            "id",
            "not a usable id (str)",
            "malformed Jamf computer record <no id>",
        ),
        (
            "mobile",
            {"mobileDeviceId": 1.5},
            "mobileDeviceId",
            "not a usable id (float)",
            "malformed Jamf mobile record <no id>",
        ),
    ],
)
def test_a_record_without_a_usable_id_is_skipped_with_a_literal_reason(
    kind: str, record: Any, field: str, reason: str, text: str
) -> None:
    with pytest.raises(MalformedDevice) as caught:
        translate(kind, record)  # type: ignore[arg-type]
    error = caught.value
    assert (error.kind, error.record_id, error.field, error.reason) == (kind, None, field, reason)
    assert str(error) == f"{text}: {field}: {reason}"


@pytest.mark.parametrize(
    ("kind", "record", "mdm_device_id"),
    [
        ("computer", {"id": 7}, "computer:7"),
        ("computer", {"id": "  12 "}, "computer:12"),
        ("computer", {"id": "9" * 64}, "computer:" + "9" * 64),
        ("mobile", {"mobileDeviceId": None, "id": "31"}, "mobile:31"),
        ("mobile", {"mobileDeviceId": "5", "id": "31"}, "mobile:5"),
    ],
)
def test_a_usable_id(kind: str, record: dict[str, Any], mdm_device_id: str) -> None:
    device, _ = translate(kind, record)  # type: ignore[arg-type]
    assert device.mdm_device_id == mdm_device_id


def test_a_malformed_device_with_an_id_names_it() -> None:
    assert str(MalformedDevice("mobile", "77", "general", "broken")) == (
        "malformed Jamf mobile record 77: general: broken"
    )


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("computer", "general"),
        ("computer", "hardware"),
        ("computer", "userAndLocation"),
        ("computer", "operatingSystem"),
        ("computer", "general.remoteManagement"),
        ("computer", "storage"),
        ("mobile", "general"),
        ("mobile", "hardware"),
    ],
)
def test_a_section_of_the_wrong_type_is_warned_by_its_name(kind: str, path: str) -> None:
    raw = computer() if kind == "computer" else mobile()
    _set(raw, path, "not an object")
    _, warnings = translate(kind, raw)  # type: ignore[arg-type]
    assert [w.field for w in warnings] == [path]


def test_a_mobile_location_section_of_the_wrong_type_is_warned_by_its_name() -> None:
    raw = mobile()
    del raw["userAndLocation"]
    raw["location"] = ["kim"]
    device, warnings = translate("mobile", raw)
    assert device.assigned_user is None
    assert [w.field for w in warnings] == ["location"]


def _disks(*disks: dict[str, Any]) -> dict[str, Any]:
    raw = computer()
    raw["storage"] = {"disks": list(disks)}
    return raw


@pytest.mark.parametrize(
    ("disks", "path"),
    [
        ("not a list", "storage.disks"),
        ([{"sizeMegabytes": 1000, "partitions": "x"}], "storage.disks.0.partitions"),
        (
            [{"sizeMegabytes": 1000, "partitions": [{"partitionType": 7}]}],
            "storage.disks.0.partitions.partitionType",
        ),
        (
            [{"sizeMegabytes": "big", "partitions": [{"partitionType": "BOOT", "sizeMegabytes": 500}]}],
            "storage.disks.0.sizeMegabytes",
        ),
        (
            [{"partitions": [{"partitionType": "boot", "sizeMegabytes": "half"}]}],
            "storage.disks.0.partitions.sizeMegabytes",
        ),
    ],
)
def test_a_malformed_storage_field_is_warned_by_its_path(disks: Any, path: str) -> None:
    raw = computer()
    raw["storage"] = {"disks": disks}
    _, warnings = translate("computer", raw)
    assert [w.field for w in warnings] == [path]


def test_the_boot_disk_is_found_past_a_malformed_partition() -> None:
    raw = _disks(
        {"sizeMegabytes": 256000, "partitions": ["junk", {"partitionType": "BOOT"}]},
        {"sizeMegabytes": 1000000, "partitions": [{"partitionType": "OTHER"}]},
    )
    device, _ = translate("computer", raw)
    assert device.mdm.disk_capacity_gb == 256.0


@pytest.mark.parametrize(
    ("name", "os"),
    [
        ("Mac OS X", "macOS (14.5)"),
        ("OS X", "macOS (14.5)"),
        ("Mac OS", "macOS (14.5)"),
        ("MACOS", "macOS (14.5)"),
        ("Ubuntu", "Ubuntu (14.5)"),
    ],
)
def test_a_computer_os_name(name: str, os: str) -> None:
    raw = computer()
    raw["operatingSystem"] = {"name": name, "version": "14.5"}
    device, _ = translate("computer", raw)
    assert device.os == os


@pytest.mark.parametrize(
    ("identifier", "model", "family"),
    [
        ("iPod9,1", None, "iOS"),
        ("iPhone15,4", None, "iOS"),
        (None, "iPhone 15", "iOS"),
        (None, "iPod touch", "iOS"),
    ],
)
def test_an_ios_device_without_version_or_type_is_known_by_its_model(
    identifier: str | None, model: str | None, family: str
) -> None:
    assert mobile_os_family(None, identifier, model, None) == family


def test_a_malformed_device_keeps_the_id_it_was_given() -> None:
    error = MalformedDevice("computer", "12", "general", "broken")
    assert (error.kind, error.record_id, error.field, error.reason) == ("computer", "12", "general", "broken")
