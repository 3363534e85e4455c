"""Query parameters every list shares: a time range, a cursor, a page size."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query

MAX_PAGE = 500  # the read models' own limit; a larger one is refused there too

Since = Annotated[
    datetime | None,
    Query(description="From this time on (ISO 8601; without an offset, UTC)."),
]
Until = Annotated[datetime | None, Query(description="Before this time (ISO 8601).")]
Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page; the list continues after it."),
]
Limit = Annotated[int | None, Query(ge=1, le=MAX_PAGE, description="Items per page (50).")]


def seconds(moment: datetime | None) -> float | None:
    """A query time as ledger seconds (UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
