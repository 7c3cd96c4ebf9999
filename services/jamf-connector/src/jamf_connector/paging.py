"""Bookkeeping of one paged walk over an inventory endpoint: dedup, and the gaps between pages.

Offset pages shift when devices are removed during a pull: if a device of page 0 disappears after
page 0 was read, every later device moves one place up and the first device of each later page
slips onto the page before it, which was already read — it would be missed, and the reconciler
would call it missing (R-M10). Removals and enrollments during a pull can cancel out in
`totalCount`, so counts cannot tell. Ids can: with `sort=id:asc`, anything that slipped has an
id between the last id of one page and the first id of the next. After the walk, one filtered
request per kind (`id>L;id<F` intervals OR-ed together, RSQL) asks for exactly those, plus ids
above the last one seen (enrolled during the pull). Dedup on id keeps every device to one record.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_INTERVALS_PER_FILTER = 40  # keeps the query string short (URL limits of proxies: ~8 KB)


@dataclass
class Walk:
    id_field: str
    seen: set[str] = field(default_factory=set)
    bounds: dict[int, tuple[int, int]] = field(default_factory=dict)  # page number -> (min id, max id)
    numeric: bool = True  # Jamf ids are numbers in strings; if one is not, no gap check is possible
    duplicates: int = 0  # records dropped because their id was already seen in this walk

    def take(self, page_number: int | None, results: list[Any]) -> list[Any]:
        """The records of a page not seen before; remembers the page's id range."""
        fresh, ids = [], []
        for record in results:
            raw_id = record.get(self.id_field) if isinstance(record, dict) else None
            if raw_id is None:
                fresh.append(record)  # translation reports it as malformed
                continue
            key = str(raw_id)
            if key.isdigit():
                ids.append(int(key))
            else:
                self.numeric = False
            if key in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(key)
                fresh.append(record)
        if page_number is not None and ids:
            self.bounds[page_number] = (min(ids), max(ids))
        return fresh

    def gaps(self) -> list[tuple[int | None, int | None]]:
        """Open id intervals (low, high) not covered by the pages read; None = unbounded."""
        if not self.numeric or len(self.bounds) < 2:
            return []  # one request read everything at once: nothing can slip between pages
        ranges = [self.bounds[n] for n in sorted(self.bounds)]
        out: list[tuple[int | None, int | None]] = []
        if ranges[0][0] > 1:
            out.append((None, ranges[0][0]))
        for (_, prev_max), (next_min, _) in itertools.pairwise(ranges):
            if next_min - prev_max > 1:
                out.append((prev_max, next_min))
        out.append((max(high for _, high in ranges), None))
        return out


def gap_filters(id_field: str, gaps: list[tuple[int | None, int | None]]) -> Iterator[str]:
    """RSQL filters covering `gaps`, a bounded number of intervals each."""
    for start in range(0, len(gaps), MAX_INTERVALS_PER_FILTER):
        terms = []
        for low, high in gaps[start : start + MAX_INTERVALS_PER_FILTER]:
            parts = ([f"{id_field}>{low}"] if low is not None else []) + (
                [f"{id_field}<{high}"] if high is not None else []
            )
            terms.append(f"({';'.join(parts)})")
        yield ",".join(terms)
