"""The worker inside the API process: started with the app, drained when it shuts down."""

from __future__ import annotations

import asyncio
import logging

from ..metrics import WorkerMetrics
from ..syndicator import Syndicator

log = logging.getLogger("syndicate.serve")


class WorkerRunner:
    """Runs ``syndicator``'s worker on the app's event loop until ``stop``."""

    def __init__(self, syndicator: Syndicator, metrics: WorkerMetrics) -> None:
        self.syndicator = syndicator
        self.metrics = metrics
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="syndicate-worker")

    async def _run(self) -> None:
        self.metrics.up.set(1)
        try:
            await self.syndicator.run_async(stop=self._stop, listener=self.metrics.observe)
        except Exception:
            log.exception("the worker stopped")
            raise
        finally:
            self.metrics.up.set(0)

    async def stop(self) -> None:
        """Stop claiming; attempts in flight get ``worker.grace``, the rest are released."""
        self._stop.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:  # already logged; shutting down regardless
                log.debug("worker ended with an error", exc_info=True)
