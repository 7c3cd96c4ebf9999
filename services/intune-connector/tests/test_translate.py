"""R-I1..R-I8: Graph managedDevice -> ObservedDevice, table-tested on every sample and edge case."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intune_connector import translate
from intune_connector.translate import (
    MalformedDevice,
    disk_capacity_gb,
    format_os,
    normalize_serial,
    translate_device,
)

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).parent / "samples"
# CI machines are shared and slow: no per-example deadline, no "generation too slow" failure.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def sample_devices() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.json")):
        data = json.loads(path.read_text())
        for device in data["value"] if isinstance(data, dict) else data:
            out.append((f"{path.stem}:{device['id']}", device))
    return out


# Expected translation of every device in tests/samples/ (copies of shared/samples/intune/).
EXPECTED: dict[str, dict[str, Any]] = {
    "graph-docs-list-example:705c034c-034c-705c-4c03-5c704c035c70": {
        "serial_number": "Serial Number value",  # the docs' filler text is not a known placeholder
        "os": "Operating System value (Os Version value)",
        "manufacturer": "Manufacturer value",
        "model": "Model value",
        "assigned_user": "Email Address value",
        "device_name": "Device Name value",
        "mdm": {
            "enrolled_at": datetime(2017, 1, 1, 7, 59, 43, 797191, tzinfo=UTC),  # -08:00 offset
            "last_check_in_at": datetime(2017, 1, 1, 8, 2, 49, 320597, tzinfo=UTC),  # 7 digits
            "disk_capacity_gb": None,  # 8 bytes
            "registration_status": "registered",
            "primary_user_email": "Email Address value",
        },
    },
    "v1-page-cloud-pc-with-nextlink:9b5ca08f-2311-4164-b725-2d29609b35f2": {
        "serial_number": "0000-0014-0657-8375-4585-0309-11",  # Cloud PC: valid, VM-class
        "os": "Windows (10.0.19044.3693)",
        "manufacturer": "Microsoft Corporation",
        "model": "Cloud PC Enterprise 2vCPU/4GB/128GB",
        "assigned_user": None,  # userless: e-mail and UPN both ""
        "device_name": "CPC-achak-A17OZ",
        "mdm": {
            "enrolled_at": datetime(2023, 12, 14, 18, 5, 18, tzinfo=UTC),
            "last_check_in_at": datetime(2024, 4, 13, 20, 23, 18, tzinfo=UTC),
            "disk_capacity_gb": 136.84,  # 136,844,410,880 bytes in decimal GB
            "registration_status": "registered",
            "primary_user_email": None,
        },
    },
    "v1-vmware-vms:9de5069c-5afe-602b-2ea0-a04b66beb2c0": {
        "serial_number": "VMware-42146feae0gg8142-2839a7304825cc11",
        "os": "Windows (10.0.19044.3084)",
        "manufacturer": "VMware, Inc.",
        "model": "VMware Virtual Platform",
        "assigned_user": "user@example.com",  # e-mail wins over the (different) UPN
        "device_name": "INTUNE-W10",
        "mdm": {
            "enrolled_at": datetime(2021, 6, 24, 0, 37, 4, 588543, tzinfo=UTC),
            "last_check_in_at": datetime(2023, 8, 23, 9, 5, 10, 199762, tzinfo=UTC),
            "disk_capacity_gb": 33.77,
            "registration_status": "registered",
            "primary_user_email": "user@example.com",
        },
    },
    "v1-vmware-vms:9de5069c-5afe-602b-2ea0-a04b66beb2c1": {
        "serial_number": "VMware-42146feae0gg8142-2839a7304825cc11",  # same serial, another device
        "os": "Windows (10.0.19044.3084)",
        "manufacturer": "VMware, Inc.",
        "model": "VMware Virtual Platform",
        "assigned_user": "user@example.com",
        "device_name": "EXAMPLE-W10",
        "mdm": {
            "enrolled_at": datetime(2021, 6, 24, 0, 37, 4, 588543, tzinfo=UTC),
            "last_check_in_at": datetime(2023, 8, 23, 9, 5, 10, 199762, tzinfo=UTC),
            "disk_capacity_gb": 33.77,
            "registration_status": "registered",
            "primary_user_email": "user@example.com",
        },
    },
}


def test_every_sample_device_has_an_expectation() -> None:
    assert sorted(k for k, _ in sample_devices()) == sorted(EXPECTED)


@pytest.mark.parametrize(("key", "raw"), sample_devices(), ids=[k for k, _ in sample_devices()])
def test_sample_devices_translate_as_expected(key: str, raw: dict[str, Any]) -> None:
    device, warnings = translate_device(raw)
    want = EXPECTED[key]
    assert warnings == ()
    assert device.mdm_device_id == device.uuid == device.mdm.mdm_device_id == raw["id"]
    assert device.asset_tag is None
    for field in ("serial_number", "os", "manufacturer", "model", "assigned_user", "device_name"):
        assert getattr(device, field) == want[field], field
    assert device.mdm.device_name == want["device_name"]
    for field, value in want["mdm"].items():
        assert getattr(device.mdm, field) == value, field


def base(**overrides: Any) -> dict[str, Any]:
    raw = {
        "id": "11111111-2222-4333-8444-555555555555",
        "deviceName": "LT-0042",
        "serialNumber": "PF3ABCDE",
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.4460",
        "manufacturer": "LENOVO",
        "model": "21CB0067US",
        "emailAddress": "aiko@example.com",
        "userPrincipalName": "aiko@corp.example.com",
        "enrolledDateTime": "2024-01-02T03:04:05Z",
        "lastSyncDateTime": "2025-11-01T00:00:00.1234567Z",
        "totalStorageSpaceInBytes": 512 * 2**30,
        "deviceRegistrationState": "registered",
    }
    raw.update(overrides)
    return raw


EDGE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("serial trimmed", {"serialNumber": "  PF3ABCDE \t"}, {"serial_number": "PF3ABCDE"}),
    ("serial 0 (R-I1)", {"serialNumber": "0"}, {"serial_number": None}),
    ("serial blank", {"serialNumber": "   "}, {"serial_number": None}),
    ("serial null", {"serialNumber": None}, {"serial_number": None}),
    ("serial missing", {"serialNumber": ...}, {"serial_number": None}),
    ("Defaultstring (no space)", {"serialNumber": "Defaultstring"}, {"serial_number": None}),
    ("To Be Filled By O.E.M.", {"serialNumber": "To Be Filled By O.E.M."}, {"serial_number": None}),
    ("all zeros with dashes", {"serialNumber": "0000-0000-0000"}, {"serial_number": None}),
    ("one repeated character", {"serialNumber": "XXXXXXXX"}, {"serial_number": None}),
    ("-1", {"serialNumber": "-1"}, {"serial_number": None}),
    ("os without version (R-I2)", {"osVersion": ""}, {"os": "Windows"}),
    ("os version only", {"operatingSystem": "", "osVersion": "10.0"}, {"os": None}),
    ("os both empty", {"operatingSystem": None, "osVersion": None}, {"os": None}),
    (
        "os with build in parens",
        {"operatingSystem": "macOS", "osVersion": "11.2.1 (20D74)"},
        {"os": "macOS (11.2.1 (20D74))"},
    ),
    ("manufacturer blank", {"manufacturer": " "}, {"manufacturer": None}),
    ("manufacturer trimmed", {"manufacturer": " Dell Inc. "}, {"manufacturer": "Dell Inc."}),
    ("firmware default manufacturer", {"manufacturer": "System manufacturer"}, {"manufacturer": None}),
    ("firmware default model", {"model": "System Product Name"}, {"model": None}),
    ("e-mail empty: UPN (R-I6)", {"emailAddress": ""}, {"assigned_user": "aiko@corp.example.com"}),
    ("userless", {"emailAddress": "", "userPrincipalName": ""}, {"assigned_user": None}),
    ("storage 0 (R-I8)", {"totalStorageSpaceInBytes": 0}, {"mdm.disk_capacity_gb": None}),
    (
        "storage as OData string",
        {"totalStorageSpaceInBytes": "137438953472"},
        {"mdm.disk_capacity_gb": 137.44},
    ),
    ("storage negative", {"totalStorageSpaceInBytes": -5}, {"mdm.disk_capacity_gb": None}),
    ("sentinel 0001-01-01", {"enrolledDateTime": "0001-01-01T00:00:00Z"}, {"mdm.enrolled_at": None}),
    (
        "sentinel 9999-12-31",
        {"lastSyncDateTime": "9999-12-31T23:59:59.9999999Z"},
        {"mdm.last_check_in_at": None},
    ),
    (
        "sentinel min with offset",
        {"enrolledDateTime": "0001-01-01T00:00:00+01:00"},
        {"mdm.enrolled_at": None},
    ),
    ("unix zero", {"enrolledDateTime": "1970-01-01T00:00:00Z"}, {"mdm.enrolled_at": None}),
    ("empty date", {"enrolledDateTime": ""}, {"mdm.enrolled_at": None}),
    (
        "offset to UTC",
        {"enrolledDateTime": "2024-06-01T09:00:00.5+09:00"},
        {"mdm.enrolled_at": datetime(2024, 6, 1, 0, 0, 0, 500000, tzinfo=UTC)},
    ),
    (
        "7 fractional digits",
        {"lastSyncDateTime": "2023-08-23T09:05:10.1997623Z"},
        {"mdm.last_check_in_at": datetime(2023, 8, 23, 9, 5, 10, 199762, tzinfo=UTC)},
    ),
    (
        "every registration state kept",
        {"deviceRegistrationState": "keyConflict"},
        {"mdm.registration_status": "keyConflict"},
    ),
    ("registration null", {"deviceRegistrationState": None}, {"mdm.registration_status": None}),
    (
        "device name trimmed",
        {"deviceName": " LT-0042 "},
        {"device_name": "LT-0042", "mdm.device_name": "LT-0042"},
    ),
    (
        "extra keys tolerated",
        {"enrollmentProfileName": None, "@odata.type": "#microsoft.graph.managedDevice"},
        {},
    ),
]


def _get(device: Any, path: str) -> Any:
    for part in path.split("."):
        device = getattr(device, part)
    return device


@pytest.mark.parametrize(("name", "overrides", "expected"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES])
def test_edge_cases(name: str, overrides: dict[str, Any], expected: dict[str, Any]) -> None:
    raw = base(**overrides)
    for k in [k for k, v in raw.items() if v is ...]:
        del raw[k]
    device, warnings = translate_device(raw)
    assert warnings == () or name == "os version only"  # R-I2's case warns (tested below)
    for path, value in expected.items():
        assert _get(device, path) == value, path


def test_unknown_registration_state_becomes_unknown_without_a_warning() -> None:
    """Graph's enums evolve (`unknownFutureValue`): not a malformed field, so no R-M14 warning."""
    device, warnings = translate_device(base(deviceRegistrationState="unknownFutureValue"))
    assert device.mdm.registration_status == "unknown" and warnings == ()


def test_os_version_without_os_warns() -> None:
    device, warnings = translate_device(base(operatingSystem="", osVersion="10.0"))
    assert device.os is None
    (warning,) = warnings
    assert warning.field == "operatingSystem" and "osVersion" in warning.reason


SKIPPED = [
    ({"id": None}, "id"),
    ({"id": ""}, "id"),
    ({"id": 42}, "id"),
    ({"id": {"nested": "object"}}, "id"),
    ({"id": "x" * 5_000_000}, "id"),
]


@pytest.mark.parametrize(("overrides", "field"), SKIPPED, ids=[repr(o)[:30] for o, _ in SKIPPED])
def test_a_record_without_a_usable_id_is_skipped(overrides: dict[str, Any], field: str) -> None:
    """R-M14: only a record with no usable id raises MalformedDevice (the run skips and counts it)."""
    with pytest.raises(MalformedDevice) as info:
        translate_device(base(**overrides))
    assert info.value.field == field and f"'{field}'" in str(info.value)


EMPTIED = [
    ({"serialNumber": 12345}, "serialNumber", "serial_number"),
    ({"deviceName": ["a"]}, "deviceName", "device_name"),
    ({"deviceName": "x" * 5_000_000}, "deviceName", "device_name"),
    ({"manufacturer": {"name": "Dell"}}, "manufacturer", "manufacturer"),
    ({"enrolledDateTime": 1700000000}, "enrolledDateTime", "mdm.enrolled_at"),
    ({"enrolledDateTime": "2024-13-45T99:00:00Z"}, "enrolledDateTime", "mdm.enrolled_at"),
    ({"lastSyncDateTime": "yesterday"}, "lastSyncDateTime", "mdm.last_check_in_at"),
    ({"totalStorageSpaceInBytes": "lots"}, "totalStorageSpaceInBytes", "mdm.disk_capacity_gb"),
    ({"totalStorageSpaceInBytes": True}, "totalStorageSpaceInBytes", "mdm.disk_capacity_gb"),
    ({"totalStorageSpaceInBytes": 1.5e9}, "totalStorageSpaceInBytes", "mdm.disk_capacity_gb"),
    ({"emailAddress": {"address": "a@b"}, "userPrincipalName": None}, "emailAddress", "assigned_user"),
]


@pytest.mark.parametrize(
    ("overrides", "field", "path"), EMPTIED, ids=[f"{f}-{i}" for i, (_, f, _) in enumerate(EMPTIED)]
)
def test_a_malformed_optional_field_is_emptied_with_a_warning(
    overrides: dict[str, Any], field: str, path: str
) -> None:
    """R-M14: the device is kept, that field is None, one warning names the device and the field."""
    device, warnings = translate_device(base(**overrides))
    assert _get(device, path) is None
    assert device.mdm_device_id == base()["id"]
    (warning,) = warnings
    assert (warning.kind, warning.mdm_device_id, warning.field) == ("warning", base()["id"], field)
    assert "left empty" in warning.reason and len(warning.reason) <= 500


def test_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedDevice):
        translate_device(["not", "a", "device"])


def test_disk_capacity_is_decimal_gb_rounded() -> None:
    assert disk_capacity_gb(136844410880) == 136.84
    assert disk_capacity_gb(10**9) == 1.0
    assert disk_capacity_gb(0) is None
    assert disk_capacity_gb(None) is None


def test_format_os() -> None:
    assert format_os("Windows", "10.0.22631.4460") == "Windows (10.0.22631.4460)"
    assert format_os(" iOS ", " ") == "iOS"
    assert format_os(None, None) is None


# --- properties ---------------------------------------------------------------------------------

PLACEHOLDER_SOURCES = [
    "0",
    "-1",
    "To be filled by O.E.M.",
    "Default string",
    "System Serial Number",
    "Not Specified",
    "None",
    "N/A",
    "Unknown",
    "0123456789",
    "Chassis Serial Number",
    "OEM",
    "INVALID",
    "[REDACTED]",
]


@st.composite
def placeholder_variants(draw: st.DrawFn) -> str:
    """A known placeholder with random case, inner whitespace removed or doubled, and padding."""
    word = draw(st.sampled_from(PLACEHOLDER_SOURCES))
    chars = []
    for ch in word:
        ch = ch.upper() if draw(st.booleans()) else ch.lower()
        if ch == " ":
            ch = draw(st.sampled_from(["", " ", "  ", "\t"]))
        chars.append(ch)
    pad = st.text(alphabet=" \t\n", max_size=3)
    return draw(pad) + "".join(chars) + draw(pad)


@relaxed
@given(placeholder_variants())
def test_any_placeholder_variant_normalizes_to_none(value: str) -> None:
    assert normalize_serial(value) is None
    assert translate_device(base(serialNumber=value)).device.serial_number is None


@relaxed
@given(st.sampled_from("0X1-zA"), st.integers(1, 20))
def test_one_repeated_character_is_a_placeholder(ch: str, n: int) -> None:
    assert normalize_serial(ch * n) is None


# The listed placeholders (ledger_contracts.placeholders) this alphabet can spell at 4+ characters,
# written out here so the property does not take its inputs from the code under test.
LISTED_IN_THIS_ALPHABET = {"NULL", "0123456789", "123456789", "1234567890"}


@relaxed
@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=4, max_size=20))
def test_real_looking_serials_are_kept_verbatim(serial: str) -> None:
    core = serial.replace("-", "")
    squashed = serial.upper()
    if len(set(core)) > 1 and squashed not in LISTED_IN_THIS_ALPHABET:
        assert normalize_serial(f"  {serial} ") == serial


@relaxed
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(9998, 12, 31)), st.integers(0, 9))
def test_graph_timestamps_round_trip_to_utc_microseconds(dt: datetime, last_digit: int) -> None:
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + str(last_digit) + "Z"  # Graph's 7 fractional digits
    device = translate_device(base(enrolledDateTime=text)).device
    assert device.mdm.enrolled_at == dt.replace(tzinfo=UTC)


_json_values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)


@relaxed
@given(
    st.dictionaries(
        st.sampled_from(translate.GRAPH_FIELDS), _json_values | st.lists(_json_values, max_size=2)
    )
)
def test_any_payload_translates_or_raises_malformed_device(overrides: dict[str, Any]) -> None:
    try:
        result = translate_device(base(**overrides))
    except MalformedDevice as exc:
        assert exc.field  # names what was wrong
    else:
        assert result.device.mdm_device_id


def test_translator_is_pure() -> None:
    """STYLE §1: the translation core imports no I/O library."""
    tree = ast.parse(Path(translate.__file__).read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {
        "__future__",
        "connector_kit",
        "re",
        "collections",
        "datetime",
        "typing",
        "pydantic",
        "ledger_contracts",
    }
