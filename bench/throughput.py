"""Throughput contenders: the same notices to the same five sink paths, each its own way.

Each contender returns how many deliveries the sink confirmed and how long
they took; the caller alternates contenders round by round.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syndicate.dispatcher import AttemptEvent, Dispatcher
from syndicate.store.base import DeliveryState, Outcome
from syndicate.store.sqlite import SqliteStore
from syndicate.syndicator import Syndicator

from . import workload


@dataclass(frozen=True)
class Run:
    """One timed run of one contender."""

    delivered: int
    seconds: float
    enqueue_seconds: float = 0.0  # syndicate only: the notices accepted into the ledger
    cpu_seconds: float = 0.0  # this process's CPU (all threads) over the timed part

    @property
    def cpu_ms_per_delivery(self) -> float:
        return self.cpu_seconds * 1000 / self.delivered if self.delivered else 0.0

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0


def enqueue_all(syn: Syndicator, count: int, prefix: str) -> float:
    """Accept ``count`` notices; the seconds it took (each enqueue is one durable commit)."""
    started = time.perf_counter()
    for i in range(count):
        syn.enqueue(workload.notice(i, prefix))
    return time.perf_counter() - started


def syndicate(
    folder: Path,
    base: str,
    count: int,
    concurrency: int,
    *,
    adapter: str = "cms_http",
    hole: str | None = None,
    profile: Path | None = None,
    fsync: bool = True,
    loop: str = "asyncio",
) -> Run:
    """Enqueue ``count`` notices × 5 channels, then time the worker until they are delivered.

    With ``hole`` the last channel is black-holed and the clock stops when
    the four healthy channels have every delivery; ``delivered`` counts only those.
    ``fsync=False`` is for attribution only (how much of the time the durable
    commits take): the ledger is then not safe against a power cut. ``loop="uvloop"``
    runs the worker on uvloop (a what-if row).
    """
    config = workload.write_config(
        folder,
        workload.channel_urls(base, hole),
        concurrency=concurrency,
        grace=0.0,
        timeout=60.0,
        adapter=adapter,
    )
    syn = Syndicator.from_config(config, registry=workload.registry())
    if not fsync:
        reg = syn.registry
        syn.close()
        store = SqliteStore(folder / "ledger.db")
        store._db.execute("PRAGMA synchronous=OFF")
        syn = Syndicator(syn.config, reg, store)
    try:
        enqueue_seconds = enqueue_all(syn, count, folder.name)
        healthy = {f"ch{n}" for n in range(workload.CHANNELS - (1 if hole else 0))}
        target = count * len(healthy)
        done = 0
        stop = asyncio.Event()

        def seen(event: AttemptEvent) -> None:
            nonlocal done
            if event.outcome is Outcome.delivered and event.claim.channel in healthy:
                done += 1
                if done >= target:
                    stop.set()

        cpu = 0.0

        async def go() -> float:
            nonlocal cpu
            dispatcher = Dispatcher(syn.config, syn.store, syn.adapters, listener=seen)
            started, cpu0 = time.perf_counter(), time.process_time()
            # Until every delivery has landed (retries included), or ten minutes at most.
            asyncio.get_running_loop().call_later(600, stop.set)
            await dispatcher.run(stop=stop)
            cpu = time.process_time() - cpu0
            return time.perf_counter() - started

        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled", interval=0.0005)
            profiler.start()
            seconds = _run(go(), loop)
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=True, show_all=False), "utf-8")
            profile.with_suffix(".html").write_text(profiler.output_html(), "utf-8")
        else:
            seconds = _run(go(), loop)
        counts = syn.store.counts()
        delivered = sum(
            n
            for (ch, state), n in counts.items()
            if ch in healthy and state is DeliveryState.delivered
        )
        return Run(delivered, seconds, enqueue_seconds, cpu)
    finally:
        syn.close()


def _run(main: Coroutine[Any, Any, float], loop: str) -> float:
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


WORKER = [sys.executable, "-m", "syndicate"]
_STARTUP: dict[int, float] = {}


def _workers_cpu(config: Path, processes: int) -> float:
    """CPU seconds of ``syndicate run --processes N --once`` on ``config``, all processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [*WORKER, "-c", str(config), "run", "--processes", str(processes), "--once", "--quiet"],
        check=False,
        capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _startup_cpu(folder: Path, base: str, concurrency: int, processes: int) -> float:
    """The same run's CPU with nothing to deliver: imports, ledger, exit (measured once)."""
    if processes not in _STARTUP:
        empty = folder / "empty"
        config = workload.write_config(
            empty, workload.channel_urls(base), concurrency=concurrency, grace=0.0
        )
        Syndicator.from_config(config, registry=workload.registry()).close()
        _STARTUP[processes] = _workers_cpu(config, processes)
    return _STARTUP[processes]


def syndicate_processes(
    folder: Path, base: str, count: int, concurrency: int, processes: int = 2
) -> Run:
    """``syndicate run --processes N --once`` on the same workload, from its own processes.

    The time is the ledger's own delivery window (the first attempt's start to the
    last one's end), so the workers' start-up is left out as it is for the in-process
    rows; so is it from the CPU: every worker process's, less that of the same run
    with nothing to deliver.
    """
    config = workload.write_config(
        folder, workload.channel_urls(base), concurrency=concurrency, grace=0.0, timeout=60.0
    )
    syn = Syndicator.from_config(config, registry=workload.registry())
    try:
        enqueue_seconds = enqueue_all(syn, count, folder.name)
    finally:
        syn.close()
    cpu = _workers_cpu(config, processes) - _startup_cpu(folder, base, concurrency, processes)
    db = sqlite3.connect(folder / "ledger.db")
    try:
        first, last = db.execute(
            "SELECT MIN(started_at), MAX(finished_at) FROM attempts"
        ).fetchone()
        (delivered,) = db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'"
        ).fetchone()
    finally:
        db.close()
    return Run(delivered, (last - first) if first else 0.0, enqueue_seconds, cpu)


async def _pool(
    bodies: list[bytes],
    targets: list[str],
    concurrency: int,
    post: Callable[[int, str, bytes, str], Awaitable[bool]],
) -> int:
    """``concurrency`` workers per target, each posting every body once; the successes."""
    ok = 0

    async def worker(t: int, url: str, queue: asyncio.Queue[tuple[int, bytes]]) -> None:
        nonlocal ok
        while True:
            try:
                i, data = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if await post(t, url, data, f"BENCH-{i:07d}.v1.ch{t}"):
                ok += 1

    tasks = []
    for t, url in enumerate(targets):
        queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        for item in enumerate(bodies):
            queue.put_nowait(item)
        tasks += [asyncio.create_task(worker(t, url, queue)) for _ in range(concurrency)]
    await asyncio.gather(*tasks)
    return ok


def httpx_loop(base: str, bodies: list[bytes], concurrency: int) -> Run:
    """A bare httpx.AsyncClient per target, the same bodies and headers cms_http sends."""
    import httpx

    async def go() -> Run:
        targets = workload.channel_urls(base)
        clients = [httpx.AsyncClient(trust_env=False) for _ in targets]

        async def post(t: int, url: str, data: bytes, key: str) -> bool:
            r = await clients[t].post(
                url,
                content=data,
                headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key},
            )
            return r.status_code == 200 and "id" in r.json()

        try:
            started, cpu0 = time.perf_counter(), time.process_time()
            ok = await _pool(bodies, targets, concurrency, post)
            return Run(ok, time.perf_counter() - started, cpu_seconds=time.process_time() - cpu0)
        finally:
            for c in clients:
                await c.aclose()

    return asyncio.run(go())


def aiohttp_loop(base: str, bodies: list[bytes], concurrency: int) -> Run:
    """A bare aiohttp session per target: the practical ceiling for Python HTTP clients."""
    import aiohttp

    async def go() -> Run:
        targets = workload.channel_urls(base)
        sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
            for _ in targets
        ]

        async def post(t: int, url: str, data: bytes, key: str) -> bool:
            async with sessions[t].post(
                url,
                data=data,
                headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key},
            ) as r:
                return r.status == 200 and "id" in await r.json()

        try:
            started, cpu0 = time.perf_counter(), time.process_time()
            ok = await _pool(bodies, targets, concurrency, post)
            return Run(ok, time.perf_counter() - started, cpu_seconds=time.process_time() - cpu0)
        finally:
            for s in sessions:
                await s.close()

    return asyncio.run(go())


def apprise_loop(base: str, count: int) -> Run:
    """Apprise the way users call it: one notify() per notice, five json:// targets each."""
    import apprise

    hostport = base.removeprefix("http://")
    ap = apprise.Apprise()
    for n in range(workload.CHANNELS):
        ap.add(f"json://{hostport}/ch{n}")
    title = workload.notice(0)["title"]
    message = workload.notice(0)["body_html"]
    ok = 0
    started, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(count):
        if ap.notify(title=title, body=message):
            ok += workload.CHANNELS
    return Run(ok, time.perf_counter() - started, cpu_seconds=time.process_time() - cpu0)
