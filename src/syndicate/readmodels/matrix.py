"""The notices page: a page of notice versions matching a filter, with a cell per channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.base import NoticeFilter, Purpose, Store
from .ledger import NoticeSummary, notice_list
from .status import MatrixCell


@dataclass(frozen=True)
class MatrixLine:
    """A notice version and its delivery on each channel it was routed to."""

    notice: NoticeSummary
    cells: Mapping[str, MatrixCell]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.notice.as_dict(),
            "channels": {ch: c.as_dict() for ch, c in self.cells.items()},
        }


@dataclass(frozen=True)
class MatrixPage:
    """Newest first; ``next_cursor`` continues with older notices, None at the end."""

    channels: tuple[str, ...]
    lines: tuple[MatrixLine, ...]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "items": [line.as_dict() for line in self.lines],
            "next_cursor": self.next_cursor,
        }


def matrix_page(
    store: Store,
    configured: Sequence[str],
    filter: NoticeFilter,
    cursor: str | None,
    limit: int | None,
) -> MatrixPage:
    page = notice_list(store, filter, cursor, limit)
    lines = []
    seen: set[str] = set()
    for n in page.items:
        cells = {
            d.channel: MatrixCell(
                d.state, d.attempts, d.next_attempt_at, d.remote_id, d.remote_url, d.last_error
            )
            for d in store.deliveries(notice_id=n.id)
            # a cell is the version's publication; its withdrawal or expiry is in the detail
            if d.notice_version == n.version and d.purpose is Purpose.publish
        }
        seen.update(cells)
        lines.append(MatrixLine(n, cells))
    channels = [c for c in configured if filter.channel in (None, c)]
    channels += sorted(seen - set(channels))
    return MatrixPage(tuple(channels), tuple(lines), page.next_cursor)
