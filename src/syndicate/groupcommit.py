"""Group commit: enqueues that arrive while the ledger is writing are accepted together next.

Each notice accepted alone pays for one durable commit (an fsync on SQLite,
a WAL flush on PostgreSQL), and that commit is most of its cost. Callers on
an event loop (the HTTP API) hand their notice to a ``GroupCommit``: when no
group is being written, theirs starts at once; otherwise it waits and goes
with everyone else who arrived meanwhile, in one transaction. Each caller
still gets its own answer — a conflict or a refusal is that notice's alone —
and only after the transaction that holds its notice has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Writes a group in one transaction; one result per item, in order. Runs in a thread.
Writer = Callable[[Sequence[Item]], Sequence[Result]]


@dataclass(frozen=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    answer: asyncio.Future[Result]


class GroupCommit(Generic[Item, Result]):
    """Items written by ``writer`` in groups of at most ``limit``, one group at a time."""

    def __init__(self, writer: Writer[Item, Result], *, limit: int) -> None:
        self._writer = writer
        self._limit = limit
        self._waiting: list[_Waiting[Item, Result]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Item) -> Result:
        """``item``'s result once the transaction that wrote it has committed."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (a test's, a restarted server's)
            self._loop, self._waiting, self._task = loop, [], None
        waiting = _Waiting[Item, Result](item, loop.create_future())
        self._waiting.append(waiting)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._write_groups(), name="syndicate-group-commit")
        return await waiting.answer

    async def _write_groups(self) -> None:
        while self._waiting:
            group = self._waiting[: self._limit]
            del self._waiting[: self._limit]
            try:
                results = await asyncio.to_thread(self._writer, [w.item for w in group])
            except Exception as exc:  # the transaction failed: nothing of the group was kept
                _fail(group, exc)
                continue
            except BaseException:  # cancelled (the loop shuts down): no one waits forever
                _fail(group + self._waiting, RuntimeError("the group commit was cancelled"))
                self._waiting = []
                raise
            for waiting, result in zip(group, results, strict=True):
                if not waiting.answer.done():  # its caller may have gone (a closed connection)
                    waiting.answer.set_result(result)


def _fail(group: list[_Waiting[Item, Result]], exc: BaseException) -> None:
    for waiting in group:
        if not waiting.answer.done():
            waiting.answer.set_exception(exc)
