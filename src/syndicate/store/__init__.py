"""Stores: the outbox and the ledger. ``open_store(url)`` picks the backend."""

from __future__ import annotations

from .base import Store
from .url import StoreUrl, parse_store_url


def open_store(url: str | StoreUrl, *, notify: bool = True) -> Store:
    """Open the store at ``url``: ``sqlite:///path`` or ``postgresql://…``.

    ``notify`` False: PostgreSQL workers find new work by polling alone
    (for servers without LISTEN/NOTIFY).
    """
    parsed = url if isinstance(url, StoreUrl) else parse_store_url(url)
    if parsed.scheme == "postgresql":
        from .postgres import PostgresStore

        return PostgresStore(parsed.dsn, notify=notify)
    from .sqlite import SqliteStore

    return SqliteStore(parsed.path)


__all__ = ["Store", "StoreUrl", "open_store", "parse_store_url"]
