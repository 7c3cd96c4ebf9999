"""Device CSV (R-C1, R-C2): the columns, an exported row, and a whole file checked before anything is
applied. Pure: what the checks need from the ledger is handed in (`LedgerView`).

Columns, in this order: `device_id`; the ledger fields a person edits; one `custom_<name>` per custom
field definition (in order of creation); the read-only columns the ledger keeps (source, binding,
missing flag, version, timestamps); the MDM-only fields, each prefixed `mdm_` (R-I8).

On import, `device_id` picks the device to update (empty: a new one); ledger and custom columns are
applied; read-only and `mdm_` columns are ignored (R-C2: "MDM-only fields in the file are ignored");
any other column is an error. A row is a CSV record; the header is row 1.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger_contracts import DeviceFieldsInput, MdmOnlyFields

from .custom_fields import Definition, check_values, emptied_on_update, missing_on_create

CUSTOM_PREFIX = "custom_"
MDM_PREFIX = "mdm_"
# The fields a person edits (EDITABLE_FIELDS), the asset number first as a ledger's key column.
LEDGER_COLUMNS: tuple[str, ...] = (
    "asset_number",
    "serial_number",
    "os",
    "manufacturer",
    "model",
    "assigned_user",
    "status",
    "notes",
)
READ_ONLY_COLUMNS: tuple[str, ...] = (
    "source",
    "binding_integration_id",
    "binding_mdm_kind",
    "binding_mdm_device_id",
    "missing_from_mdm",
    "last_seen_at",
    "version",
    "created_at",
    "updated_at",
)
MDM_FIELDS: tuple[str, ...] = tuple(MdmOnlyFields.model_fields)
MAX_ERRORS = 1000  # listed in a 422; the rest are counted


def mdm_column(name: str) -> str:
    """`device_name` → `mdm_device_name`; `mdm_device_id` stays as it is."""
    return name if name.startswith(MDM_PREFIX) else MDM_PREFIX + name


MDM_COLUMNS: tuple[str, ...] = tuple(mdm_column(f) for f in MDM_FIELDS)


def device_columns(custom_names: Sequence[str]) -> list[str]:
    return [
        "device_id",
        *LEDGER_COLUMNS,
        *(CUSTOM_PREFIX + n for n in custom_names),
        *READ_ONLY_COLUMNS,
        *MDM_COLUMNS,
    ]


# R-X1 (OWASP "CSV injection"): a spreadsheet runs a cell that starts with one of these as a
# formula. Exports put a single quote before such a cell; imports take that quote off again, so a
# file exported and imported back changes nothing.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTED = (*FORMULA_STARTS, "'")
_MAY_NEED_QUOTE = frozenset(_QUOTED)


def neutralise(text: str) -> str:
    """R-X1: the cell as exported: `'` before a formula start, and before a cell that already
    starts with `'` + a formula start or another `'` (so `restore` gives back what was stored)."""
    if text.startswith(FORMULA_STARTS) or (
        text.startswith("'") and text[1:].startswith((*FORMULA_STARTS, "'"))
    ):
        return "'" + text
    return text


def restore(text: str) -> str:
    """R-X1: the inverse of `neutralise` on import."""
    if text.startswith("'") and text[1:].startswith(_QUOTED):
        return text[1:]
    return text


def cell(value: Any) -> str:
    """How a value is written: empty for none, booleans as true/false, times in UTC ISO 8601,
    text neutralised against formula injection (R-X1)."""
    if value is None:
        return ""
    if type(value) is str:
        # Most cells: only one that starts with a formula start or `'` can change (issue 12: an
        # export of 1,000,000 devices calls this 29 million times).
        return neutralise(value) if value[:1] in _MAY_NEED_QUOTE else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, int | float):
        return str(value)  # a number is never a formula (a negative one keeps its sign)
    return neutralise(str(value))


def write_rows(rows: Iterable[Sequence[Any]]) -> str:
    """CSV text of `rows` (RFC 4180 quoting, \\r\\n line ends, as spreadsheets write it)."""
    out = io.StringIO()
    writerow = csv.writer(out).writerow
    may_quote = _MAY_NEED_QUOTE
    for row in rows:
        # = cell(v) for each value; the two commonest cases inline (no call per value).
        writerow(
            ["" if v is None else v if type(v) is str and v[:1] not in may_quote else cell(v) for v in row]
        )
    return out.getvalue()


# --- reading a file ------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class RowError:
    row: int | None  # None: about the whole file
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


class InvalidFile(ValueError):
    """The file cannot be read as CSV at all (encoding, quoting)."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.message)
        self.error = error


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # a spreadsheet's BOM is welcome
    except UnicodeDecodeError as exc:
        raise InvalidFile(RowError(None, None, f"the file is not UTF-8 (byte {exc.start})")) from exc


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every non-blank record; the header is row 1."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    number = 0
    try:
        for number, cells in enumerate(reader, start=1):
            if any(c.strip() for c in cells):
                yield number, cells
    except csv.Error as exc:
        raise InvalidFile(RowError(number + 1, None, f"not valid CSV: {exc}")) from exc


def blank(value: str) -> str | None:
    """A cell as read: formula protection taken off (R-X1), blanks trimmed, empty = none."""
    value = restore(value.strip())
    return value.strip() or None


# --- device import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportedRow:
    row: int
    device_id: uuid.UUID | None
    fields: DeviceFieldsInput  # only the file's ledger/custom columns are set


@dataclass(frozen=True)
class ExistingDevice:
    asset_number: str | None
    custom_fields: dict[str, str | None]


@dataclass
class LedgerView:
    """What the checks need from the ledger: the devices the file names, and who holds which asset
    number (normalised) in the whole tenant."""

    devices: dict[uuid.UUID, ExistingDevice] = field(default_factory=dict)
    asset_owners: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass
class DeviceFile:
    columns: list[str]
    rows: list[ImportedRow]
    errors: list[RowError]

    @property
    def named_devices(self) -> set[uuid.UUID]:
        return {r.device_id for r in self.rows if r.device_id is not None}


def asset_key(value: str | None) -> str | None:
    """Asset numbers compare without case and whitespace (as the reconciler's `normalise`)."""
    if value is None:
        return None
    return "".join(value.split()).upper() or None


def read_device_file(text: str, definitions: dict[str, Definition]) -> DeviceFile:
    """Parse and check everything that needs only the file and the custom field definitions."""
    rows = records(text)
    first = next(rows, None)
    if first is None:
        return DeviceFile([], [], [RowError(None, None, "the file is empty (a header row is needed)")])
    _, header = first
    columns = [h.strip() for h in header]
    errors = _header_errors(columns, definitions)
    if errors:
        return DeviceFile(columns, [], errors)
    out = DeviceFile(columns, [], [])
    seen_ids: dict[uuid.UUID, int] = {}
    for number, cells in rows:
        if len(cells) != len(columns):
            out.errors.append(
                RowError(number, None, f"has {len(cells)} cells, the header has {len(columns)}")
            )
            continue
        parsed = _row(number, dict(zip(columns, cells, strict=True)), definitions, out.errors)
        if parsed is None:
            continue
        if parsed.device_id is not None:
            if parsed.device_id in seen_ids:
                out.errors.append(
                    RowError(
                        number,
                        "device_id",
                        f"device {parsed.device_id} is also on row {seen_ids[parsed.device_id]}",
                    )
                )
                continue
            seen_ids[parsed.device_id] = number
        out.rows.append(parsed)
    return out


def _header_errors(columns: list[str], definitions: dict[str, Definition]) -> list[RowError]:
    known = {"device_id", *LEDGER_COLUMNS, *READ_ONLY_COLUMNS}
    errors = []
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        errors.append(RowError(1, None, f"duplicate column(s): {', '.join(duplicates)}"))
    unknown = [
        c
        for c in columns
        if c not in known
        and not c.startswith(MDM_PREFIX)
        and not (c.startswith(CUSTOM_PREFIX) and c[len(CUSTOM_PREFIX) :] in definitions)
    ]
    if unknown:
        errors.append(
            RowError(
                1,
                None,
                f"unknown column(s): {', '.join(unknown)} (ledger fields, device_id, custom_<defined "
                "custom field>, read-only columns of the export, and mdm_* columns are allowed)",
            )
        )
    return errors


def _row(
    number: int, values: dict[str, str], definitions: dict[str, Definition], errors: list[RowError]
) -> ImportedRow | None:
    device_id = None
    if raw_id := blank(values.get("device_id", "")):
        try:
            device_id = uuid.UUID(raw_id)
        except ValueError:
            errors.append(RowError(number, "device_id", f"{raw_id!r} is not a device id"))
            return None
    given: dict[str, Any] = {c: blank(values[c]) for c in LEDGER_COLUMNS if c in values}
    custom_in = {
        c[len(CUSTOM_PREFIX) :]: blank(v)
        for c, v in values.items()
        if c.startswith(CUSTOM_PREFIX) and c[len(CUSTOM_PREFIX) :] in definitions
    }
    custom, problems = check_values(definitions, custom_in)
    if device_id is None:
        problems += missing_on_create(definitions, custom)
        if not any(v is not None for v in (*given.values(), *custom.values())):
            errors.append(RowError(number, None, "a new device needs a value in a ledger or custom column"))
            return None
    for p in problems:
        errors.append(RowError(number, CUSTOM_PREFIX + p.field, p.message))
    if problems:
        return None
    if custom_in:
        given["custom_fields"] = custom if device_id is not None else {k: v for k, v in custom.items() if v}
    return ImportedRow(number, device_id, DeviceFieldsInput(**given))


def check_against_ledger(
    file: DeviceFile, ledger: LedgerView, definitions: dict[str, Definition]
) -> list[RowError]:
    """Unknown devices, required custom fields emptied, and asset numbers that would not be unique
    once the whole file is applied (so swapping two devices' numbers is fine)."""
    errors: list[RowError] = []
    final: dict[str, list[tuple[int, uuid.UUID | None]]] = {}
    in_file = file.named_devices
    for r in file.rows:
        current = ledger.devices.get(r.device_id) if r.device_id is not None else None
        if r.device_id is not None and current is None:
            errors.append(RowError(r.row, "device_id", f"no device {r.device_id} in this ledger"))
            continue
        if current is not None and r.fields.custom_fields:
            for p in emptied_on_update(definitions, current.custom_fields, r.fields.custom_fields):
                errors.append(RowError(r.row, CUSTOM_PREFIX + p.field, p.message))
        if "asset_number" in r.fields.model_fields_set:
            asset = r.fields.asset_number
        else:
            asset = current.asset_number if current is not None else None
        if (key := asset_key(asset)) is not None:
            final.setdefault(key, []).append((r.row, r.device_id))
    for key, holders in final.items():
        rows = sorted(row for row, _ in holders)
        owner = ledger.asset_owners.get(key)
        if len(holders) > 1:
            errors.append(
                RowError(
                    rows[0], "asset_number", f"the same asset number is on rows {', '.join(map(str, rows))}"
                )
            )
        elif owner is not None and owner != holders[0][1] and owner not in in_file:
            errors.append(RowError(rows[0], "asset_number", f"the asset number belongs to device {owner}"))
    return errors
