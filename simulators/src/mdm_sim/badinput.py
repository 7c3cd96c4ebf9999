"""Bad input on purpose (issue 9 item 7): one switch per way an MDM's answer can be broken.

Both simulators take `POST /_sim/bad-input {"mode": …, "page": N, "times": T, …}` (one switch or a
list), `GET /_sim/bad-input` and `DELETE /_sim/bad-input`. `page` is the 1-based page of the device
listing it hits (default: the first page, or the last page for `error_on_last_page`; for the modes
that need two pages, the second); `times` is how many pages it hits (-1: every time).

| mode                  | what the client gets                                                        |
|-----------------------|-----------------------------------------------------------------------------|
| truncated_json        | the page's JSON cut off half way                                             |
| invalid_utf8          | bytes 0xFF 0xFE inside a string of the first device (`field`)                |
| nextlink_loop         | Graph only: `@odata.nextLink` of the page points at the page itself          |
| lying_total           | Jamf: `totalCount` + `delta` (default +5); Graph: `@odata.count` + `delta`   |
| unauthorized_mid_pull | 401 (the MDM's own body) on that page although the token is valid            |
| error_on_last_page    | 500 on the last page                                                         |
| duplicate_id          | the first device of the page gets the id of the first device of page 1       |
| huge_string           | a 5 MB string in `field` of the page's first device                          |
| wrong_types           | numbers where strings belong, strings where numbers belong, a list for a date |
| null_object           | `null` where an object is expected: the first device (Graph) or its          |
|                       | `hardware` section (Jamf) is null                                             |
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal[
    "truncated_json",
    "invalid_utf8",
    "nextlink_loop",
    "lying_total",
    "unauthorized_mid_pull",
    "error_on_last_page",
    "duplicate_id",
    "huge_string",
    "wrong_types",
    "null_object",
]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]
HUGE = 5 * 2**20
INVALID_UTF8_MARK = "@@INVALID-UTF8@@"


@dataclass
class BadInput:
    mode: str
    page: int | None = None  # 1-based page of the listing; None: the mode's default
    times: int = 1  # pages affected; -1 = every one
    field: str | None = None  # the field to break (default per simulator and mode)
    delta: int = 5  # lying_total: added to the reported total
    fired: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown bad-input mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be positive, or -1 for every page")
        if self.page is not None and self.page < 1:
            raise ValueError("page is 1-based")

    def hits(self, page: int, last: bool) -> bool:
        if self.times != -1 and self.fired >= self.times:
            return False
        if self.page is not None:
            return page == self.page
        if self.mode == "error_on_last_page":
            return last
        if self.mode == "duplicate_id":
            return page == 2
        return page == 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class BadInputs:
    def __init__(self) -> None:
        self.items: list[BadInput] = []

    def add(self, body: Any) -> list[BadInput]:
        items = body if isinstance(body, list) else [body]
        if not all(isinstance(i, dict) for i in items):
            raise ValueError("expected an object or a list of objects")
        new = [BadInput(**{k: v for k, v in i.items() if k != "fired"}) for i in items]
        self.items.extend(new)
        return new

    def clear(self) -> None:
        self.items.clear()

    def take(self, page: int, last: bool) -> list[BadInput]:
        """The switches that hit this page (each counted as fired)."""
        out = [b for b in self.items if b.hits(page, last)]
        for b in out:
            b.fired += 1
        return out


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path ("hardware.serialNumber") in a record, creating sections as needed."""
    *parents, leaf = path.split(".")
    node = record
    for p in parents:
        if not isinstance(node.get(p), dict):
            node[p] = {}
        node = node[p]
    node[leaf] = value


def encode(body: dict[str, Any], switches: list[BadInput]) -> bytes:
    """Serialise a page, then break the bytes as the byte-level switches say."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    for b in switches:
        if b.mode == "invalid_utf8":
            raw = raw.replace(INVALID_UTF8_MARK.encode(), b"bad\xff\xfebytes", 1)
        elif b.mode == "truncated_json":
            raw = raw[: len(raw) // 2]
    return raw
