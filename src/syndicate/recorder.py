"""Group commit: the worker's finished attempts written to the ledger in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import StoreError
from .store.base import AttemptRecord, CircuitRow, Claim, Gate, Next, Recorded, Store


@dataclass(frozen=True)
class Refill:
    """Deliveries to claim in the transaction that records a batch: the slots it frees."""

    now: float
    lease: float
    limits: Mapping[str | None, int]
    gates: Mapping[str, Gate]


class Recorder:
    """Writes finished attempts in batches: one transaction, one fsync, for many attempts.

    Attempts that finish while a batch is being written wait for the next one,
    so under load the ledger's cost per attempt falls instead of capping
    throughput; a lone attempt is written at once. With ``refill``, the same
    transaction claims the deliveries that take the finished ones' places
    (handed to ``claimed``), so a steady stream of work costs one commit per
    batch, not one for the results and another for the claims.
    """

    def __init__(
        self,
        store: Store,
        worker: str,
        writer: ThreadPoolExecutor,
        max_batch: int = 500,
        *,
        recovered: Callable[[list[CircuitRow]], None] | None = None,
        refill: Callable[[Sequence[tuple[Claim, AttemptRecord, Next]]], Refill | None]
        | None = None,
        claimed: Callable[[list[Claim]], None] | None = None,
    ) -> None:
        self.store = store
        self.refill = refill
        self.claimed = claimed
        self.recovered = recovered  # told of circuits a batch's deliveries closed
        self.worker = worker
        self.writer = writer
        self.max_batch = max_batch
        self._queue: list[tuple[Claim, AttemptRecord, Next, asyncio.Future[bool]]] = []
        self._ready = asyncio.Event()
        self._closed = False

    async def record(self, claim: Claim, attempt: AttemptRecord, next_: Next) -> bool:
        """True once written; False if another worker holds the delivery; StoreError if not."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((claim, attempt, next_, future))
        self._ready.set()
        return await future

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                try:
                    done, claims = await self._write([(c, a, n) for c, a, n, _ in batch])
                except StoreError as exc:
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for (*_, future), ok in zip(batch, done.written, strict=True):
                        if not future.done():
                            future.set_result(ok)
                    if done.recovered and self.recovered is not None:
                        self.recovered(done.recovered)
                    if claims and self.claimed is not None:
                        self.claimed(claims)
                await asyncio.sleep(0)  # let the attempts just written move on
            if self._closed and not self._queue:
                return

    async def _write(
        self, results: list[tuple[Claim, AttemptRecord, Next]]
    ) -> tuple[Recorded, list[Claim]]:
        loop = asyncio.get_running_loop()
        ask = self.refill(results) if self.refill is not None else None
        if ask is None:
            done = await loop.run_in_executor(
                self.writer, self.store.record_batch, self.worker, results
            )
            return done, []
        return await loop.run_in_executor(
            self.writer,
            self.store.record_and_claim,
            self.worker,
            results,
            ask.now,
            ask.lease,
            ask.limits,
            ask.gates,
        )

    async def close(self) -> None:
        self._closed = True
        self._ready.set()
