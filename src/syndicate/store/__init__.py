"""Stores: the outbox and the ledger. ``open_store(url)`` picks the backend."""

from __future__ import annotations

from ..errors import StoreError
from .base import Store


def open_store(url: str) -> Store:
    """Open the store at ``url`` (``sqlite:///path``)."""
    if url.startswith("sqlite:///"):
        from .sqlite import SqliteStore

        return SqliteStore(url[len("sqlite:///") :])
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise StoreError(f"unsupported store URL scheme {scheme!r} (use sqlite:///path)")


__all__ = ["Store", "open_store"]
