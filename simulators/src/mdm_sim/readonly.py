"""R-M6 evidence: every request that could change the MDM is counted, so a test can show that the
ledger's connectors only ever read (`GET /_sim/requests` on both simulators).

A "write" is any request to the MDM's API that is not GET or HEAD. Requests for tokens (POST to the
token endpoints) read credentials and change no device: they are counted apart, as `token_requests`.
The control API (`/_sim/…`) is the test harness, not the MDM, and is never counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

READ_METHODS = frozenset({"GET", "HEAD"})


class RequestLedger:
    """Counts reads, token requests and writes; keeps the first 100 writes as "METHOD path"."""

    def __init__(self, is_token_path: Callable[[str], bool]) -> None:
        self._is_token_path = is_token_path
        self._lock = threading.Lock()
        self.reads = self.token_requests = self.writes = 0
        self.write_samples: list[str] = []

    def record(self, method: str, path: str) -> None:
        if path.startswith("/_sim"):
            return
        with self._lock:
            if method.upper() in READ_METHODS:
                self.reads += 1
            elif self._is_token_path(path):
                self.token_requests += 1
            else:
                self.writes += 1
                if len(self.write_samples) < 100:
                    self.write_samples.append(f"{method.upper()} {path}")

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "reads": self.reads,
                "token_requests": self.token_requests,
                "writes": self.writes,
                "write_samples": list(self.write_samples),
            }
