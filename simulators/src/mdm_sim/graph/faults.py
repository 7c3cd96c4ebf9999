"""Fault injection: make chosen requests fail the way Graph and Entra ID fail.

A fault fires on the devices list (or the token endpoint) at a chosen request number, at a chosen
page, or on the next requests; `times` says how many requests it affects (-1: every one, for
"persistent 5xx"). Faults come from the config or `POST /_sim/faults` at run time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Endpoint = Literal["devices", "token"]

# Graph's error codes per status (https://learn.microsoft.com/graph/errors).
GRAPH_ERROR_CODES = {
    400: ("BadRequest", "Bad request."),
    403: ("Forbidden", "Application is not authorized to perform this operation."),
    404: ("ResourceNotFound", "Resource not found."),
    429: ("TooManyRequests", "Please retry again later."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry after a delay."),
    504: ("GatewayTimeout", "The gateway did not receive a timely response."),
}


@dataclass
class Fault:
    status: int
    retry_after: str | None = None  # sent verbatim: "0.05", "2", or an HTTP-date
    request: int | None = None  # 1-based number of the request on `endpoint` from which it fires
    page: int | None = None  # 1-based page of the listing (devices only)
    times: int = 1  # requests affected; -1 = all of them
    endpoint: Endpoint = "devices"
    fired: int = 0

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError("a fault status must be an HTTP error (400-599)")
        if self.times == 0 or self.times < -1:
            raise ValueError("times must be positive, or -1 for every request")

    def matches(self, endpoint: Endpoint, request_no: int, page: int | None) -> bool:
        if endpoint != self.endpoint or (self.times != -1 and self.fired >= self.times):
            return False
        if self.request is not None and request_no < self.request:
            return False
        return self.page is None or self.page == page

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class FaultInjector:
    def __init__(self, faults: list[Fault] | None = None) -> None:
        self.faults: list[Fault] = list(faults or [])

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def check(self, endpoint: Endpoint, request_no: int, page: int | None = None) -> Fault | None:
        for f in self.faults:
            if f.matches(endpoint, request_no, page):
                f.fired += 1
                return f
        return None
