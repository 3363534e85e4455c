"""Stores: the outbox and the ledger. ``open_store(url)`` picks the backend."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..errors import LedgerUnreachable
from .base import Store
from .url import StoreUrl, parse_store_url

PROGRESS_EVERY = 5.0
"""Seconds between two "still waiting" lines while a ledger does not answer."""


def open_store(
    url: str | StoreUrl,
    *,
    notify: bool = True,
    wait: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> Store:
    """Open the store at ``url``: ``sqlite:///path`` or ``postgresql://…``.

    ``notify`` False: PostgreSQL workers find new work by polling alone
    (for servers without LISTEN/NOTIFY). ``wait``: seconds to keep trying a
    ledger whose server does not answer yet (starting, restarting), telling
    ``progress`` what it waits for; then its error is raised as at once.
    """
    parsed = url if isinstance(url, StoreUrl) else parse_store_url(url)
    deadline = time.monotonic() + wait
    pause, told, next_word = 0.25, False, 0.0
    while True:
        try:
            store = _open(parsed, notify)
        except LedgerUnreachable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait > 0:
                    raise LedgerUnreachable(f"{exc} (waited {wait:g}s)") from None
                raise
            waited = wait - left
            if progress is not None and waited >= next_word:
                if told:
                    progress(f"still waiting for the ledger ({waited:.0f}s of {wait:g}s): {exc}")
                else:
                    progress(f"{exc}; waiting up to {wait:g}s for it to answer")
                told, next_word = True, waited + PROGRESS_EVERY
            time.sleep(min(pause, left))
            pause = min(pause * 2, 2.0)
            continue
        if told and progress is not None:
            progress(f"the ledger {parsed.redacted()} answers")
        return store


def _open(parsed: StoreUrl, notify: bool) -> Store:
    if parsed.scheme == "postgresql":
        from .postgres import PostgresStore

        return PostgresStore(parsed.dsn, notify=notify)
    from .sqlite import SqliteStore

    return SqliteStore(parsed.path)


__all__ = ["Store", "StoreUrl", "open_store", "parse_store_url"]
