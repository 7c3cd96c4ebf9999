"""The subset of RSQL (Jamf's `filter` parameter) the simulator understands.

    expr  := and ("," and)*          "," is OR
    and   := term (";" term)*        ";" is AND
    term  := "(" expr ")" | field op value
    op    := == != < <= > >= =in= =out=
    value := number | "quoted" | bare word | (v1,v2,…) for =in= / =out=

Values compare as numbers when both sides are numbers (ids: `id>1000`), else as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(r'\s*(=in=|=out=|==|!=|<=|>=|<|>|\(|\)|,|;|"(?:[^"\\]|\\.)*"|[^\s=!<>(),;"]+)')


class FilterError(ValueError):
    pass


def parse(text: str, fields: Mapping[str, tuple[str, ...]]) -> Predicate:
    tokens = _tokenize(text)
    pos, predicate = _expr(tokens, 0, fields)
    if pos != len(tokens):
        raise FilterError(f"unexpected {tokens[pos]!r} in filter")
    return predicate


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise FilterError(f"cannot read filter at {text[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _expr(tokens: list[str], pos: int, fields: Mapping[str, tuple[str, ...]]) -> tuple[int, Predicate]:
    pos, first = _and(tokens, pos, fields)
    options = [first]
    while pos < len(tokens) and tokens[pos] == ",":
        pos, nxt = _and(tokens, pos + 1, fields)
        options.append(nxt)
    return pos, (first if len(options) == 1 else lambda r: any(p(r) for p in options))


def _and(tokens: list[str], pos: int, fields: Mapping[str, tuple[str, ...]]) -> tuple[int, Predicate]:
    pos, first = _term(tokens, pos, fields)
    parts = [first]
    while pos < len(tokens) and tokens[pos] == ";":
        pos, nxt = _term(tokens, pos + 1, fields)
        parts.append(nxt)
    return pos, (first if len(parts) == 1 else lambda r: all(p(r) for p in parts))


def _term(tokens: list[str], pos: int, fields: Mapping[str, tuple[str, ...]]) -> tuple[int, Predicate]:
    if pos >= len(tokens):
        raise FilterError("filter ends too early")
    if tokens[pos] == "(":
        pos, inner = _expr(tokens, pos + 1, fields)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise FilterError("missing ')' in filter")
        return pos + 1, inner
    name = tokens[pos]
    op = tokens[pos + 1] if pos + 1 < len(tokens) else ""
    if name not in fields:
        raise FilterError(f"field {name!r} cannot be filtered on")
    path = fields[name]
    if op in ("=in=", "=out="):
        if pos + 2 >= len(tokens) or tokens[pos + 2] != "(":
            raise FilterError(f"{op} needs a (list)")
        values, pos = [], pos + 3
        while pos < len(tokens) and tokens[pos] != ")":
            if tokens[pos] != ",":
                values.append(_unquote(tokens[pos]))
            pos += 1
        wanted = {_key(v) for v in values}
        inside = op == "=in="
        return pos + 1, lambda r: (_key(_lookup(r, path)) in wanted) == inside
    if op not in _OPS or pos + 2 >= len(tokens):
        raise FilterError(f"bad comparison after {name!r}")
    value, compare = _unquote(tokens[pos + 2]), _OPS[op]
    return pos + 3, lambda r: _compare(_lookup(r, path), value, compare)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"') if token.startswith('"') else token


def _lookup(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _key(value: Any) -> Any:
    text = "" if value is None else str(value)
    return int(text) if text.lstrip("-").isdigit() else text


def _compare(actual: Any, wanted: str, compare: Callable[[Any, Any], bool]) -> bool:
    if actual is None:
        return compare is _OPS["!="]
    a, b = _key(actual), _key(wanted)
    if isinstance(a, int) != isinstance(b, int):
        a, b = str(actual), wanted
    return compare(a, b)
