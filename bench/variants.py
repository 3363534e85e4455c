"""What-if variants of cms_http, registered only in the benchmark's registry.

They change one thing each, so a row in the table shows what that change
would buy before anyone touches the adapter:

    cms_http_aiohttp   the same httpx client API over the httpx-aiohttp transport
    GroupCommitStore   the ledger's claims and results committed in batches
"""

from __future__ import annotations

import sqlite3
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import httpx
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate import __version__
from syndicate.errors import StoreError
from syndicate.registry import AdapterRegistry
from syndicate.store.sqlite import SqliteStore


class AiohttpTransportCms(CmsHttpAdapter):
    """cms_http with httpx's API kept and aiohttp underneath (httpx-aiohttp)."""

    kind: ClassVar[str] = "cms_http_aiohttp"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            from httpx_aiohttp import AiohttpTransport

            opts = self.options
            verify: ssl.SSLContext | bool = False
            if opts.verify:
                cafile = str(opts.ca_file) if opts.ca_file is not None else None
                verify = ssl.create_default_context(cafile=cafile)
            t = opts.timeouts
            self._client = httpx.AsyncClient(
                transport=AiohttpTransport(verify=verify, trust_env=False),
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": f"syndicate/{__version__}"},
            )
        return self._client


def register(registry: AdapterRegistry) -> None:
    """Add the variants to ``registry`` under their kind names."""
    for kind in (AiohttpTransportCms,):
        registry.register(kind, kind.kind)


class GroupCommitStore(SqliteStore):
    """The SQLite ledger with writes grouped into one transaction per batch (what-if only).

    Claims and results join the open transaction; ``flush`` commits it, and
    the benchmark calls it every few milliseconds. It shows what batching
    the engine's ledger writes would buy, and is no design: a result is
    reported before its commit, where a real implementation reports it after.
    """

    def __init__(self, path: str | Path, *, batch: int = 256) -> None:
        super().__init__(path)
        self._batch = batch
        self._pending = 0
        self.commits = 0

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if not self._db.in_transaction:
                    self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(str(exc)) from None
            try:
                yield self._db
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise StoreError(str(exc)) from None
            self._pending += 1
            if self._pending >= self._batch:
                self.flush()

    def flush(self) -> None:
        """Commit whatever the open transaction holds."""
        with self._lock:
            if self._db.in_transaction:
                self._db.execute("COMMIT")
                self.commits += 1
            self._pending = 0
