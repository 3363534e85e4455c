"""The Python API for upstream systems: ``Syndicator.from_config(path).enqueue(notice)``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .adapter import Adapter
from .audit.verify import Anchored, Verification, verify, verify_anchored
from .config import Config, load_config
from .dispatcher import AttemptEvent, Dispatcher
from .errors import NoticeError, Problem
from .notice import Notice
from .registry import AdapterRegistry
from .routing import check_channels, route
from .store import open_store
from .store.base import NoticeRecord, Store
from .tokens import Tokens


@dataclass(frozen=True)
class Accepted:
    """What ``enqueue`` did with a notice."""

    notice_id: str
    version: int
    digest: str
    channels: list[str]
    created: bool  # False: the same id, version and content were accepted before

    @property
    def status(self) -> str:
        return "accepted" if self.created else "already accepted"


class Syndicator:
    """One configuration, one ledger: enqueue notices, run the worker, read the ledger."""

    def __init__(
        self, config: Config, registry: AdapterRegistry, store: Store | None = None
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = (
            store
            if store is not None
            else open_store(config.store_url(), notify=config.store.notify)
        )
        self._adapters: dict[str, Adapter[Any]] | None = None
        self._running: list[tuple[asyncio.AbstractEventLoop, Dispatcher]] = []
        self.tokens = Tokens(self.store)

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        registry: AdapterRegistry | None = None,
        env: dict[str, str] | None = None,
        read_only: bool = False,
    ) -> Syndicator:
        """Load ``channels.yaml`` at ``path`` and open the ledger it names.

        ``read_only``: for reading the ledger; channels whose secrets are not in
        the environment are listed but cannot send (see ``load_config``).
        """
        registry = registry or AdapterRegistry.from_entry_points()
        config = load_config(Path(path), registry, env=env, read_only=read_only)
        return cls(config, registry)

    @property
    def adapters(self) -> dict[str, Adapter[Any]]:
        """One adapter instance per configured channel, built on first use."""
        if self._adapters is None:
            self._adapters = {name: ch.build() for name, ch in self.config.channels.items()}
        return self._adapters

    def enqueue(
        self, notice: Notice | dict[str, Any] | str | bytes, *, by: str | None = None
    ) -> Accepted:
        """Validate, route and store ``notice`` with one delivery per routed channel.

        When this returns, the notice and its deliveries are committed
        together. Raises NoticeError (bad notice, conflict, no channel).
        ``by`` names who enqueued it (an API token) in the ledger.
        """
        if not isinstance(notice, Notice):
            notice = Notice.parse(notice)
        channels = route(notice, self.config)
        check_channels(notice, channels, self.adapters)
        digest = notice.digest()
        record = NoticeRecord(
            id=notice.id,
            version=notice.version,
            category=notice.category.value,
            notice_type=notice.notice_type.value,
            region_code=notice.region_code,
            title=notice.title,
            digest=digest,
            content=notice.canonical_json(),
            accepted_at=time.time(),
            publish_at=notice.publish_at.timestamp(),
        )
        result = self.store.accept(record, channels, record.accepted_at, by=by)
        for loop, dispatcher in list(self._running):
            # A worker of this process is woken at once; others notice the ledger changed.
            loop.call_soon_threadsafe(dispatcher.wake)
        return Accepted(notice.id, notice.version, digest, result.channels, result.created)

    def load_notice(self, notice_id: str, version: int) -> Notice:
        record = self.store.notice(notice_id, version)
        if record is None:
            raise NoticeError(
                [Problem("", f"no notice {notice_id} version {version} in the ledger")]
            )
        return Notice.parse(record.content)

    def verify(self, anchor: Path | None = None) -> Verification | Anchored:
        """Walk the ledger's hash chain and check every row against it.

        With ``anchor``: also check the chain against every head anchored in
        that file, and append this head to it if everything holds.
        """
        if anchor is None:
            return verify(self.store)
        return verify_anchored(self.store, anchor)

    def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> None:
        """Run the worker until stopped (or, with ``once``, until nothing is due)."""
        asyncio.run(self.run_async(once=once, stop=stop))

    async def run_async(
        self,
        *,
        once: bool = False,
        stop: asyncio.Event | None = None,
        listener: Callable[[AttemptEvent], None] | None = None,
    ) -> None:
        dispatcher = Dispatcher(self.config, self.store, self.adapters, listener=listener)
        entry = (asyncio.get_running_loop(), dispatcher)
        self._running.append(entry)
        try:
            await dispatcher.run(once=once, stop=stop)
        finally:
            self._running.remove(entry)

    def drain(self, *, timeout: float = 60.0) -> bool:
        """Run the worker until every delivery has ended or ``timeout`` passes; True if all ended.

        Unlike ``run(once=True)`` this waits for scheduled retries too.
        """
        return asyncio.run(self.drain_async(timeout=timeout))

    async def drain_async(self, *, timeout: float = 60.0) -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(self.run_async(stop=stop))
        deadline = time.monotonic() + timeout
        done = False
        try:
            while not task.done():
                # Nothing pending or in flight: one look at a small index, whatever the size.
                done = self.store.next_due() is None
                if done or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        return done

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Syndicator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
