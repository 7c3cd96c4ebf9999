"""Placeholder values that name no device (R-I1, R-M5): the one list, used by both connectors'
translators and the reconciler's matching keys.

Firmware vendors write the same text into every unit ("To be filled by O.E.M.", "Default string",
"0"); treating it as a serial would merge unrelated devices. Values are compared *squashed*:
whitespace removed, upper-cased, so "Default string" == "DEFAULTSTRING" == " default  String ".
Sources: research notes §6 (Intune/Autopilot reports, lf-edge/eve's union of eleven projects'
lists, Fleet, GLPI); "Not Available" is Jamf's word for a DEP device before its first check-in;
"[REDACTED]" appears in published fixtures and identifies nothing.

A serial is also a placeholder when, separators ignored, it is empty or one character repeated
("0000-0000", "XXXXXXXX", "----").
"""

from __future__ import annotations

import re

_WHITESPACE = re.compile(r"\s+")
# Separators ignored by the "one repeated character" rule.
_SEPARATORS = re.compile(r"[\s\-_.:/]+")

SERIAL_PLACEHOLDER_TEXTS: tuple[str, ...] = (
    "0",
    "-1",
    "To be filled by O.E.M.",
    "To be filled by OEM",
    "Default string",
    "Default",
    "System Serial Number",
    "Chassis Serial Number",
    "Base Board Serial Number",
    "Serial Number",
    "SerialNumber",
    "Not Specified",
    "Not Available",
    "Not Applicable",
    "None",
    "Null",
    "N/A",
    "NA",
    "Unknown",
    "OEM",
    "O.E.M.",
    "INVALID",
    "0123456789",
    "123456789",
    "1234567890",
    "[REDACTED]",
)

# Manufacturer/model values that are unfilled firmware defaults, not hardware names [beyond]:
# writing them would fill an empty ledger field (ledger-first) with junk a person has to clear.
HARDWARE_PLACEHOLDER_TEXTS: tuple[str, ...] = (
    "To be filled by O.E.M.",
    "System manufacturer",
    "System Product Name",
    "System Version",
    "Default string",
    "Not Specified",
    "Unknown",
    "OEM",
    "O.E.M.",
)


def squash(value: str) -> str:
    """The compared form: no whitespace at all, upper case."""
    return _WHITESPACE.sub("", value).upper()


SERIAL_PLACEHOLDERS: frozenset[str] = frozenset(squash(s) for s in SERIAL_PLACEHOLDER_TEXTS)
HARDWARE_PLACEHOLDERS: frozenset[str] = frozenset(squash(s) for s in HARDWARE_PLACEHOLDER_TEXTS)


def is_placeholder_serial(value: str | None) -> bool:
    """True for None, blank, a listed placeholder, or one character repeated (separators ignored)."""
    if value is None:
        return True
    squashed = squash(value)
    if squashed in SERIAL_PLACEHOLDERS:
        return True
    return len(set(_SEPARATORS.sub("", squashed))) <= 1


def is_placeholder_hardware(value: str | None) -> bool:
    """True for None, blank or a firmware default manufacturer/model name."""
    if value is None:
        return True
    squashed = squash(value)
    return not squashed or squashed in HARDWARE_PLACEHOLDERS


def clean_serial(value: str | None) -> str | None:
    """R-I1: the serial trimmed, or None when it names no device."""
    if value is None or is_placeholder_serial(value):
        return None
    return value.strip()


def clean_hardware(value: str | None) -> str | None:
    """A manufacturer/model trimmed, or None when it is a firmware default."""
    if value is None or is_placeholder_hardware(value):
        return None
    return value.strip()
