"""A channel's rate limit: deliveries started per second."""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """At most ``rate`` starts per second: two starts are never closer than 1/rate."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._last = -float("inf")
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        # The lock is held while waiting, so the spacing is between real starts,
        # not between slots handed out (a late wake-up cannot bunch two together).
        async with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last = time.monotonic()
