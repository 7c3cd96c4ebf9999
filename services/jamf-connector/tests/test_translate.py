"""Jamf record -> ObservedDevice (SPEC §3, R-J1): every sample file, then the edge cases one by one."""

from __future__ import annotations

import ast
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jamf_connector import translate as translate_module
from jamf_connector.translate import Kind, MalformedDevice, clean_serial
from jamf_connector.translate import translate as translate_record
from ledger_contracts import ObservedDevice

pytestmark = pytest.mark.unit


def translate(kind: Kind, raw: Any) -> ObservedDevice:
    """The device alone (these tests expect no warnings: a warning would be a regression)."""
    device, warnings = translate_record(kind, raw)
    assert warnings == ()
    return device


SAMPLES = Path(__file__).parent / "samples"

# file -> (kind, expected fields of its first record). Every file in samples/ must be listed.
EXPECTED: dict[str, tuple[Kind, dict[str, Any]]] = {
    "computers-inventory-v1-docs-example.json": (
        "computer",
        {
            "mdm_device_id": "computer:1",
            "serial_number": "C02ZC2QYLVDL",
            "uuid": "123",
            "device_name": "Boalime",
            "asset_tag": "304822",
            "os": "macOS (10.9.5)",  # "Mac OS X" is written macOS
            "manufacturer": "Apple",
            "model": "13-inch MacBook Pro (Mid 2012)",
            "assigned_user": "email@com.pl",
            "mdm": {
                "jamf_id": "1",
                "udid": "123",
                "device_name": "Boalime",
                "mdm_device_id": "computer:1",
                "enrolled_at": datetime(2018, 10, 31, 18, 4, 13, tzinfo=UTC),
                "last_check_in_at": datetime(2018, 10, 31, 18, 4, 13, tzinfo=UTC),
                "primary_user_email": "email@com.pl",
                "username": "Madison Anderson",
                "disk_capacity_gb": 262.14,  # 262144 MB / 1000
                "management_status": "managed, supervised",
                "registration_status": None,
            },
        },
    ),
    "computers-inventory-v2-docs-example.json": (
        "computer",
        {
            "mdm_device_id": "computer:1",
            "serial_number": "C02ZC2QYLVDL",
            "uuid": "123",
            "os": "macOS (10.9.5)",
            "asset_tag": "304822",
            "assigned_user": "email@com.pl",
            "mdm": {"disk_capacity_gb": 262.14, "jamf_id": "1", "management_status": "managed, supervised"},
        },
    ),
    "mobile-devices-detail-v2-partial.json": (
        "mobile",
        {
            "mdm_device_id": "mobile:1",
            "serial_number": "CXXXXXXXXXX1",
            "uuid": "00008120-001C1D8136500032",
            "device_name": "iPad",
            "asset_tag": None,
            "os": "iPadOS (26.3.1)",  # deviceType says "iOS"; modelIdentifier iPad15,7 says iPad
            "manufacturer": "Apple",
            "model": "iPad (A16)",
            "assigned_user": None,  # USER_AND_LOCATION was not requested in the sample
            "mdm": {
                "jamf_id": "1",
                "udid": "00008120-001C1D8136500032",
                "enrolled_at": datetime(2026, 4, 9, 13, 24, 32, 434000, tzinfo=UTC),
                "last_check_in_at": datetime(2026, 4, 9, 13, 25, 5, 789000, tzinfo=UTC),
                "disk_capacity_gb": None,
                "management_status": "managed",
            },
        },
    ),
}


def _records(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((SAMPLES / name).read_text())["results"]
    return records


def test_every_sample_file_is_in_the_table() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_files(name: str) -> None:
    kind, expected = EXPECTED[name]
    for record in _records(name):
        got = translate(kind, record).model_dump()
        mdm = expected.get("mdm", {})
        assert {k: got[k] for k in expected if k != "mdm"} == {
            k: v for k, v in expected.items() if k != "mdm"
        }
        assert {k: got["mdm"][k] for k in mdm} == mdm


def _computer(**sections: Any) -> dict[str, Any]:
    base = copy.deepcopy(_records("computers-inventory-v2-docs-example.json")[0])
    base.update(sections)
    return base


def _mobile(**sections: Any) -> dict[str, Any]:
    base = copy.deepcopy(_records("mobile-devices-detail-v2-partial.json")[0])
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("C02ZC2QYLVDL", "C02ZC2QYLVDL"),
        ("  C02ZC2QYLVDL \n", "C02ZC2QYLVDL"),
        (None, None),
        ("", None),
        ("   ", None),
        ("Not Available", None),
        ("not available", None),
        ("0", None),
        ("000000", None),
        ("Default string", None),
        ("To be filled by O.E.M.", None),
        ("TO BE FILLED BY O.E.M.", None),
        ("System Serial Number", None),
        ("SystemSerialNumber", None),
        ("Unknown", None),
        ("N/A", None),
        ("n / a", None),
        ("XXXXXXXX", None),  # one character repeated
        ("0000-0000", None),
        ("To be filled by OEM", None),
        ("[REDACTED]", None),
        ("1A", "1A"),  # short but real
        ("0A1", "0A1"),
    ],
)
def test_serial_placeholders(raw: str | None, expected: str | None) -> None:
    assert clean_serial(raw) == expected
    hardware = {**_computer()["hardware"], "serialNumber": raw}
    assert translate("computer", _computer(hardware=hardware)).serial_number == expected


@pytest.mark.parametrize(
    ("os_section", "expected"),
    [
        ({"name": "macOS", "version": "14.4.1"}, "macOS (14.4.1)"),
        ({"name": "Mac OS X", "version": "10.9.5"}, "macOS (10.9.5)"),
        ({"name": "OS X", "version": "10.11"}, "macOS (10.11)"),
        ({"name": "macOS", "version": ""}, "macOS"),
        ({"name": None, "version": "15.1"}, "macOS (15.1)"),
        ({"name": None, "version": None}, None),
        (None, None),  # OPERATING_SYSTEM not requested: null section
    ],
)
def test_computer_os(os_section: dict[str, Any] | None, expected: str | None) -> None:
    assert translate("computer", _computer(operatingSystem=os_section)).os == expected


@pytest.mark.parametrize(
    ("device_type", "hardware", "version", "expected"),
    [
        ("iOS", {"modelIdentifier": "iPhone15,4", "model": "iPhone 15"}, "17.5", "iOS (17.5)"),
        ("iOS", {"modelIdentifier": "iPad14,8", "model": "iPad Air"}, "17.5", "iPadOS (17.5)"),
        ("iOS", {"modelIdentifier": "iPad7,5", "model": "iPad (6th generation)"}, "12.5.7", "iOS (12.5.7)"),
        ("iOS", {"modelIdentifier": None, "model": "iPad Pro 13-inch (M4)"}, "18.1", "iPadOS (18.1)"),
        ("iOS", {"modelIdentifier": "iPod9,1", "model": "iPod touch"}, "15.8", "iOS (15.8)"),
        ("tvOS", {"modelIdentifier": "AppleTV14,1", "model": "Apple TV 4K"}, "18.1", "tvOS (18.1)"),
        ("appleTv", {"modelIdentifier": None, "model": None}, "17.5", "tvOS (17.5)"),
        ("iOS", {"modelIdentifier": None, "model": None}, "17.5", "iOS (17.5)"),
        ("iOS", {"modelIdentifier": "iPhone15,4"}, "", "iOS"),
        (None, {"modelIdentifier": None, "model": None}, None, None),
    ],
)
def test_mobile_os(
    device_type: str | None, hardware: dict[str, Any], version: str | None, expected: str | None
) -> None:
    raw = _mobile(deviceType=device_type, hardware=hardware, general={"osVersion": version})
    assert translate("mobile", raw).os == expected


def test_computer_and_mobile_with_the_same_id_are_two_devices() -> None:
    computer = translate("computer", _computer(id="7"))
    mobile = translate("mobile", _mobile(mobileDeviceId="7"))
    assert (computer.mdm_device_id, mobile.mdm_device_id) == ("computer:7", "mobile:7")
    assert computer.mdm.jamf_id == mobile.mdm.jamf_id == "7"


def test_integer_ids_are_read_as_strings() -> None:
    assert translate("computer", _computer(id=7)).mdm_device_id == "computer:7"


@pytest.mark.parametrize(
    ("tag", "expected"), [("1A", "1A"), ("  304822 ", "304822"), ("", None), (None, None)]
)
def test_asset_tag(tag: str | None, expected: str | None) -> None:
    general = {**_computer()["general"], "assetTag": tag}
    assert translate("computer", _computer(general=general)).asset_tag == expected
    assert translate("mobile", _mobile(general={"assetTag": tag})).asset_tag == expected


@pytest.mark.parametrize(
    ("user", "assigned", "email", "username"),
    [
        ({"email": "a@x.com", "username": "alice"}, "a@x.com", "a@x.com", "alice"),
        ({"email": "", "username": "alice"}, "alice", None, "alice"),
        ({"email": None, "username": " "}, None, None, None),
        (None, None, None, None),
    ],
)
def test_computer_user(
    user: dict[str, Any] | None, assigned: str | None, email: str | None, username: str | None
) -> None:
    device = translate("computer", _computer(userAndLocation=user))
    assert (device.assigned_user, device.mdm.primary_user_email, device.mdm.username) == (
        assigned,
        email,
        username,
    )


def test_mobile_user_from_user_and_location_or_location() -> None:
    with_ual = _mobile(userAndLocation={"emailAddress": "b@x.com", "username": "bob"})
    assert translate("mobile", with_ual).assigned_user == "b@x.com"
    by_id_shape = _mobile(location={"emailAddress": "", "username": "carol"})
    assert translate("mobile", by_id_shape).assigned_user == "carol"


def _storage(*disks: dict[str, Any]) -> dict[str, Any]:
    return {"bootDriveAvailableSpaceMegabytes": 1, "disks": list(disks)}


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        (
            _storage(
                {"sizeMegabytes": 494384, "partitions": [{"partitionType": "BOOT", "sizeMegabytes": 1}]}
            ),
            494.38,
        ),
        (
            _storage(
                {
                    "sizeMegabytes": 2000000,
                    "partitions": [{"partitionType": "OTHER", "sizeMegabytes": 2000000}],
                },
                {"sizeMegabytes": 245107, "partitions": [{"partitionType": "BOOT", "sizeMegabytes": 245000}]},
            ),
            245.11,  # the boot disk, not the first or the largest
        ),
        (
            _storage(
                {"sizeMegabytes": None, "partitions": [{"partitionType": "BOOT", "sizeMegabytes": 250000}]}
            ),
            250.0,
        ),
        (_storage({"sizeMegabytes": 994662, "partitions": []}), 994.66),  # one disk is the boot disk
        (
            _storage({"sizeMegabytes": 1000, "partitions": []}, {"sizeMegabytes": 2000, "partitions": []}),
            None,
        ),
        (_storage({"sizeMegabytes": 0, "partitions": [{"partitionType": "BOOT", "sizeMegabytes": 0}]}), None),
        (None, None),
    ],
)
def test_boot_disk_capacity(storage: dict[str, Any] | None, expected: float | None) -> None:
    assert translate("computer", _computer(storage=storage)).mdm.disk_capacity_gb == expected


@pytest.mark.parametrize(("capacity", "expected"), [(128000, 128.0), (0, None), (-1, None), (None, None)])
def test_mobile_capacity(capacity: int | None, expected: float | None) -> None:
    assert translate("mobile", _mobile(hardware={"capacityMb": capacity})).mdm.disk_capacity_gb == expected


@pytest.mark.parametrize(
    ("managed", "supervised", "expected"),
    [
        (True, True, "managed, supervised"),
        (True, False, "managed"),
        (False, None, "unmanaged"),
        (None, None, None),
    ],
)
def test_management_status(managed: bool | None, supervised: bool | None, expected: str | None) -> None:
    assert translate(
        "mobile", _mobile(general={"managed": managed, "supervised": supervised})
    ).mdm.management_status == (expected)
    general = {**_computer()["general"], "remoteManagement": {"managed": managed}, "supervised": supervised}
    assert translate("computer", _computer(general=general)).mdm.management_status == expected


def test_mobile_check_in_prefers_last_contact_date_when_sent() -> None:
    raw = _mobile(general={"lastContactDate": "2026-04-10T00:00:00Z"})
    assert translate("mobile", raw).mdm.last_check_in_at == datetime(2026, 4, 10, tzinfo=UTC)


def test_timestamps_with_offsets_and_without_zone_are_utc() -> None:
    general = {
        **_computer()["general"],
        "lastContactTime": "2024-01-01T09:00:00.000+0900",
        "lastEnrolledDate": "2024-01-01T00:00:00",
    }
    device = translate("computer", _computer(general=general))
    assert device.mdm.last_check_in_at == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert device.mdm.enrolled_at == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("sentinel", ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_sentinel_timestamps_are_no_value(sentinel: str) -> None:
    general = {**_computer()["general"], "lastEnrolledDate": sentinel}
    assert translate("computer", _computer(general=general)).mdm.enrolled_at is None


def test_udid_from_general_when_not_at_top_level() -> None:
    raw = _computer(udid=None)
    raw["general"]["udid"] = "ABC-UDID"
    assert translate("computer", raw).uuid == "ABC-UDID"


def test_model_falls_back_to_model_identifier() -> None:
    hardware = {**_computer()["hardware"], "model": "", "modelIdentifier": "Mac14,2"}
    assert translate("computer", _computer(hardware=hardware)).model == "Mac14,2"


def test_unknown_keys_and_null_sections_are_fine() -> None:
    raw = {
        "id": "9",
        "brandNewSection": {"x": 1},
        "general": {"name": "n", "newField": [1]},
        "hardware": None,
    }
    device = translate("computer", raw)
    assert device.mdm_device_id == "computer:9" and device.serial_number is None and device.os is None


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        ("computer", {"general": {"name": "x"}}, "id"),
        ("computer", {"id": ""}, "id"),
        ("computer", {"id": {"nested": 1}}, "id"),
        ("computer", {"id": "9" * 5000}, "id"),
        ("mobile", {"deviceType": "iOS"}, "mobileDeviceId"),
        ("mobile", ["not a record"], "<record>"),
        ("computer", None, "<record>"),
    ],
)
def test_a_record_without_a_usable_id_is_skipped(kind: Kind, raw: Any, field: str) -> None:
    """R-M14: only a record with no usable id is skipped (MalformedDevice: the run counts it)."""
    with pytest.raises(MalformedDevice) as err:
        translate_record(kind, raw)
    assert (err.value.kind, err.value.record_id, err.value.field) == (kind, None, field)
    assert field in str(err.value) and "<no id>" in str(err.value)


@pytest.mark.parametrize(
    ("kind", "raw", "field", "emptied"),
    [
        ("computer", {"id": "5", "general": ["not", "an", "object"]}, "general", lambda d: d.device_name),
        (
            "computer",
            {"id": "6", "storage": {"disks": [{"sizeMegabytes": "lots"}]}},
            "storage.disks.0.sizeMegabytes",
            lambda d: d.mdm.disk_capacity_gb,
        ),
        (
            "computer",
            {"id": "7", "general": {"name": "Mac-7", "lastContactTime": "yesterday"}},
            "general.lastContactTime",
            lambda d: d.mdm.last_check_in_at,
        ),
        (
            "mobile",
            {"mobileDeviceId": "8", "general": {"lastEnrolledDate": "31/12/2024"}},
            "general.lastEnrolledDate",
            lambda d: d.mdm.enrolled_at,
        ),
        (
            "computer",
            {"id": "10", "general": {"name": "x" * 5_000_000}},
            "general.name",
            lambda d: d.device_name,
        ),
        (
            "computer",
            {"id": "11", "hardware": {"serialNumber": ["C02"]}},
            "hardware.serialNumber",
            lambda d: d.serial_number,
        ),
        ("computer", {"id": "12", "userAndLocation": "alice"}, "userAndLocation", lambda d: d.assigned_user),
        (
            "mobile",
            {"mobileDeviceId": "13", "hardware": {"capacityMb": 1.5}},
            "hardware.capacityMb",
            lambda d: d.mdm.disk_capacity_gb,
        ),
        (
            "computer",
            {"id": "14", "general": {"supervised": "yes"}},
            "general.supervised",
            lambda d: d.mdm.management_status,
        ),
    ],
)
def test_a_malformed_optional_field_is_emptied_with_a_warning(
    kind: Kind, raw: Any, field: str, emptied: Any
) -> None:
    """R-M14: the device is kept, the field is None, and one warning names the device and field."""
    device, warnings = translate_record(kind, raw)
    assert emptied(device) is None
    (warning,) = warnings
    assert (warning.kind, warning.mdm_device_id, warning.field) == ("warning", device.mdm_device_id, field)
    assert "left empty" in warning.reason and len(warning.reason) <= 500


def test_translation_is_pure() -> None:
    """STYLE §1: the core imports no I/O library."""
    tree = ast.parse(Path(translate_module.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0] if isinstance(node, ast.ImportFrom) else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = {
        "httpx",
        "aiokafka",
        "asyncio",
        "socket",
        "requests",
        "structlog",
        "logging",
        "os",
        "pathlib",
    }
    assert not imported & forbidden


@pytest.mark.parametrize(
    ("model", "identifier", "expected"),
    [
        ("MacBook Pro (14-inch, 2023)", "Mac14,9", "MacBook Pro (14-inch, 2023)"),
        ("System Product Name", "Mac14,9", "Mac14,9"),  # a firmware default is no model
        ("To be filled by O.E.M.", None, None),
        (None, "Mac14,2", "Mac14,2"),
    ],
)
def test_model_placeholders_are_no_value(
    model: str | None, identifier: str | None, expected: str | None
) -> None:
    """R-I1's hardware list (ledger_contracts.placeholders) applies to Jamf models too."""
    hardware = {"model": model, "modelIdentifier": identifier}
    assert translate("computer", _computer(hardware=hardware)).model == expected
