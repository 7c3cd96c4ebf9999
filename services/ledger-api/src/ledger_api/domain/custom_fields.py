"""R-C4 custom fields and R-M8 required ones: a tenant's own device fields, and the rules their values
follow on manual edits (HTTP and CSV). Pure: the definitions are loaded by the caller.

Values travel and are stored as text (`LedgerDevice.custom_fields: dict[str, str | None]`), in one
canonical form per type, so that an exported file imports back to the same values:

| type    | accepted                                     | stored as               |
|---------|----------------------------------------------|-------------------------|
| text    | anything; surrounding blanks trimmed         | the trimmed text        |
| number  | a decimal: `12`, `-0.50`, `1e3`              | `12`, `-0.5`, `1000`    |
| date    | `YYYY-MM-DD`                                 | the same                |
| boolean | true/false, yes/no, 1/0 (any case)           | `true` / `false`        |

Blank is empty (None). R-M8: a required field must have a value when a person creates a device
(HTTP or CSV), and may not be emptied once it has one; devices the sync creates have it empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

FieldType = Literal["text", "number", "date", "boolean"]
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_MAX = 63
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


@dataclass(frozen=True)
class Definition:
    name: str
    type: FieldType
    required: bool = False
    choices: tuple[str, ...] | None = None  # text fields only: the allowed values (None = any)


@dataclass(frozen=True)
class Problem:
    """One invalid custom field value: `kind` is unknown | type | required."""

    field: str
    kind: Literal["unknown", "type", "required"]
    message: str


def canonical(definition: Definition, value: str | None) -> str | None:
    """The stored form of `value`; ValueError says why it does not fit the type."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if definition.type == "text":
        if definition.choices is not None and text not in definition.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(repr(c) for c in definition.choices)}")
        return text
    if definition.type == "number":
        try:
            number = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError(f"{text!r} is not a number") from exc
        if not number.is_finite():
            raise ValueError(f"{text!r} is not a finite number")
        return "0" if number.is_zero() else format(number.normalize(), "f")
    if definition.type == "date":
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text).isoformat()
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from exc
    lowered = text.lower()
    if lowered in _TRUE:
        return "true"
    if lowered in _FALSE:
        return "false"
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def check_values(
    definitions: dict[str, Definition], values: dict[str, str | None]
) -> tuple[dict[str, str | None], list[Problem]]:
    """The values in canonical form, and what is wrong with them (unknown names, wrong types)."""
    out: dict[str, str | None] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is None:
            problems.append(Problem(name, "unknown", f"custom field {name!r} is not defined"))
            continue
        try:
            out[name] = canonical(definition, value)
        except ValueError as exc:
            problems.append(Problem(name, "type", f"custom field {name!r} ({definition.type}): {exc}"))
    return out, problems


def missing_on_create(definitions: dict[str, Definition], values: dict[str, str | None]) -> list[Problem]:
    """R-M8: required fields without a value on a device a person creates."""
    return [
        Problem(d.name, "required", f"custom field {d.name!r} is required")
        for d in definitions.values()
        if d.required and values.get(d.name) is None
    ]


def emptied_on_update(
    definitions: dict[str, Definition], current: dict[str, str | None], values: dict[str, str | None]
) -> list[Problem]:
    """R-M8: a required field that has a value may not be emptied (one still empty, as on a device
    the sync created, may stay so)."""
    return [
        Problem(name, "required", f"custom field {name!r} is required and cannot be emptied")
        for name, value in values.items()
        if value is None and (d := definitions.get(name)) is not None and d.required and current.get(name)
    ]


def choice_problem(type_: FieldType, choices: list[str] | None) -> str | None:
    """Why a list of allowed values cannot be set (None when it can): text fields only, each value
    non-blank and trimmed, no duplicates."""
    if choices is None:
        return None
    if type_ != "text":
        return f"choices are for text fields only (this one is {type_})"
    if not choices:
        return "choices may not be empty (null allows any text)"
    if any(c != c.strip() or not c for c in choices):
        return "a choice may not be blank nor start or end with blanks"
    if len(set(choices)) != len(choices):
        return "choices must be distinct"
    return None


def outside_choices(choices: list[str] | None, values_in_use: dict[str, int]) -> dict[str, int]:
    """The values devices hold (value -> devices) that `choices` would no longer allow."""
    if choices is None:
        return {}
    return {v: n for v, n in sorted(values_in_use.items()) if v not in choices}
