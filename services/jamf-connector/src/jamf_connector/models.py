"""The envelope of Jamf Pro's inventory pages (as macadmins/jamf-pro-sdk-python models it).

Records stay raw dicts: each is read on its own by `translate`, field by field, so one malformed
value empties that field (R-M14) and one malformed record does not sink its page. Unknown keys
are kept (`extra="allow"`): Jamf adds fields in most releases.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Page(BaseModel):
    """`{totalCount, results}`: the envelope of both inventory endpoints."""

    model_config = ConfigDict(extra="allow")

    totalCount: int | None = None
    results: list[Any] | None = None
