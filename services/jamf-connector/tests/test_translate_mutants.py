"""Mutation-driven tests of the Jamf translator (issue 14, `make mutation`): the details surviving
mutants changed unnoticed — every branch of the mobile OS family, and the section a warning names.
Literal expected values only."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jamf_connector.translate import mobile_os_family, translate

pytestmark = pytest.mark.unit

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.rule("R-J1")
@pytest.mark.parametrize(
    ("device_type", "identifier", "model", "version", "family"),
    [
        # the model identifier decides first, trimmed and in any case
        (None, "  iPad14,8 ", None, "17.5", "iPadOS"),
        (None, "iPhone15,4", None, "17.5", "iOS"),
        (None, "iPod9,1", None, "15.8", "iOS"),
        (None, "AppleTV14,1", None, "18.1", "tvOS"),
        (None, "Watch7,1", None, "11.1", "watchOS"),
        (None, "RealityDevice14,1", None, "2.1", "visionOS"),
        # then the model name
        (None, None, "  iPad Pro 13-inch (M4)", "18.1", "iPadOS"),
        (None, None, "iPhone 15", "17.5", "iOS"),
        (None, None, "iPod touch", "15.8", "iOS"),
        (None, None, "Apple TV 4K", "18.1", "tvOS"),
        # then Jamf's device type, spaces and case ignored
        ("iOS", None, None, "17.5", "iOS"),
        ("iPadOS", None, None, "17.5", "iPadOS"),
        ("tvOS", None, None, "18.1", "tvOS"),
        ("Apple TV", None, None, "18.1", "tvOS"),
        ("watchOS", None, None, "11.1", "watchOS"),
        # no hint: a version or a type of its own means the iOS family; nothing at all is unknown
        (None, None, None, "17.5", "iOS"),
        ("Unknown", None, None, None, "iOS"),
        (None, None, "Mac", None, None),
        (None, None, None, None, None),
        # iPads ran "iOS" until iPadOS 13
        (None, "iPad7,5", None, "12.5.7", "iOS"),
        (None, "iPad8,1", None, "13.0", "iPadOS"),
        (None, "iPad8,1", None, "beta", "iPadOS"),
        (None, "iPhone10,1", None, "12.5", "iOS"),
    ],
)
def test_mobile_os_family(
    device_type: str | None,
    identifier: str | None,
    model: str | None,
    version: str | None,
    family: str | None,
) -> None:
    assert mobile_os_family(device_type, identifier, model, version) == family


def _mobile() -> dict[str, Any]:
    records = json.loads((SAMPLES / "mobile-devices-detail-v2-partial.json").read_text())
    return copy.deepcopy(records["results"][0] if isinstance(records, dict) else records[0])


@pytest.mark.rule("R-M14")
@pytest.mark.parametrize("section", ["userAndLocation", "location"])
def test_a_malformed_user_field_is_named_by_the_section_it_came_from(section: str) -> None:
    raw = _mobile()
    raw.pop("userAndLocation", None)
    raw.pop("location", None)
    raw[section] = {"emailAddress": 12345, "username": "kim"}
    device, warnings = translate("mobile", raw)
    assert device.assigned_user == "kim"
    assert [(w.field, w.kind) for w in warnings] == [(f"{section}.emailAddress", "warning")]


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


@pytest.mark.rule("R-M14")
@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("general", ["not", "an", "object"]),
        ("hardware", "not an object"),
        ("userAndLocation", 7),
        ("general.osVersion", {"major": 17}),
        ("deviceType", ["iOS"]),
        ("hardware.modelIdentifier", {"id": 1}),
        ("hardware.model", ["iPhone"]),
        ("general.lastContactDate", ["2026-11-01"]),
        ("general.lastContactDate", "yesterday"),
    ],
)
def test_a_malformed_mobile_field_is_emptied_with_a_warning_naming_it(path: str, value: Any) -> None:
    raw = _mobile()
    raw.setdefault("userAndLocation", {})
    _set(raw, path, value)
    device, warnings = translate("mobile", raw)
    assert device.mdm_device_id.startswith("mobile:")
    # hardware.model is read twice (OS family, model) and warned twice: a set (see the report)
    assert {w.field for w in warnings} == {path}


def test_a_numeric_os_version_is_read_as_text() -> None:
    raw = _mobile()
    _set(raw, "general.osVersion", 17)
    _set(raw, "hardware.modelIdentifier", "iPhone15,4")
    device, warnings = translate("mobile", raw)
    assert (device.os, warnings) == ("iOS (17)", ())


def test_a_mobile_record_with_only_id_uses_it() -> None:
    raw = _mobile()
    raw.pop("mobileDeviceId", None)
    raw["id"] = "4711"
    device, _ = translate("mobile", raw)
    assert device.mdm_device_id == "mobile:4711"
