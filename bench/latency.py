"""Enqueue-to-delivered latency at a steady offered load.

The upstream system enqueues from its own process (as the CLI or an
integrating application does) at a fixed rate; the worker runs in this
process. Latency is read back from the ledger itself: a notice's
``accepted_at`` to each delivery's successful attempt ``finished_at``.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import sqlite3
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syndicate import eventloop
from syndicate.store.base import DeliveryState
from syndicate.syndicator import Syndicator

from . import workload

PRODUCER_RATE = 100.0
"""Notices per second one producer process is asked for: more come from more producers."""


@dataclass(frozen=True)
class Latency:
    offered: float  # notices per second actually enqueued
    deliveries: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    # Deliveries of the run not yet delivered when the last producer finished: a worker that
    # keeps up leaves only what is in flight; one that does not leaves a queue that grew.
    behind: int = 0


def _produce(
    config: str,
    rate: float,
    seconds: float,
    ready: Any,
    go: Any,
    start_at: Any,
    share: int = 0,
    producers: int = 1,
) -> None:
    """Enqueue notices ``share``, ``share + producers``, … of a fixed schedule of ``rate``/s.

    The schedule starts when every producer is up (a busy machine takes seconds to
    start one); a producer that falls behind enqueues late, and the offered rate the
    run reports (read back from the ledger) shows it.
    """
    syn = Syndicator.from_config(config, registry=workload.registry())
    try:
        ready.put(share)
        go.wait()
        total = int(rate * seconds)
        start = start_at.value
        for i in range(share, total, producers):
            due = start + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            syn.enqueue(workload.notice(i, "LAT"))
    finally:
        syn.close()


def run(
    folder: Path,
    base: str,
    rate: float,
    seconds: float,
    concurrency: int,
    poll: float,
    *,
    adapter: str = "cms_http",
) -> Latency:
    """Offer ``rate`` notices/s for ``seconds``; ``adapter`` is for what-if rows."""
    config = workload.write_config(
        folder,
        workload.channel_urls(base),
        concurrency=concurrency,
        poll_interval=poll,
        grace=5.0,
        adapter=adapter,
    )
    total = int(rate * seconds) * workload.CHANNELS
    syn = Syndicator.from_config(config, registry=workload.registry())
    behind = 0
    try:

        async def go() -> None:
            nonlocal behind
            stop = asyncio.Event()
            worker = asyncio.create_task(syn.run_async(stop=stop))
            await asyncio.sleep(0.3)  # the worker is up and idle before the first notice
            ctx = multiprocessing.get_context("spawn")
            # One producer keeps up with about PRODUCER_RATE durable enqueues a second.
            count = max(1, math.ceil(rate / PRODUCER_RATE))
            ready, go, start_at = ctx.Queue(), ctx.Event(), ctx.Value("d", 0.0)
            producers = [
                ctx.Process(
                    target=_produce,
                    args=(str(config), rate, seconds, ready, go, start_at, share, count),
                )
                for share in range(count)
            ]
            for producer in producers:
                producer.start()
            for _ in producers:
                await asyncio.to_thread(ready.get, True, 300)
            start_at.value = time.time() + 0.2
            go.set()
            try:
                while any(p.is_alive() for p in producers):
                    await asyncio.sleep(0.05)
                counts = syn.store.counts()
                delivered = sum(n for (_, s), n in counts.items() if s is DeliveryState.delivered)
                behind = sum(counts.values()) - delivered
                deadline = time.monotonic() + 60 + seconds
                while time.monotonic() < deadline:
                    counts = syn.store.counts()
                    if sum(counts.values()) >= total and all(s.terminal for (_, s) in counts):
                        break
                    await asyncio.sleep(0.1)
            finally:
                for producer in producers:
                    producer.join()
                stop.set()
                await worker

        eventloop.run(go())
    finally:
        syn.close()
    db = sqlite3.connect(folder / "ledger.db")
    try:
        rows = db.execute(
            "SELECT (a.finished_at - n.accepted_at) * 1000 FROM attempts a "
            "JOIN deliveries d ON d.id = a.delivery_id JOIN notices n ON n.pk = d.notice_pk "
            "WHERE a.outcome = 'delivered'"
        ).fetchall()
        first, last = db.execute(
            "SELECT MIN(accepted_at), MAX(accepted_at) FROM notices"
        ).fetchone()
        notices = db.execute("SELECT COUNT(*) FROM notices").fetchone()[0]
    finally:
        db.close()
    values = sorted(r[0] for r in rows)
    if not values:
        return Latency(0.0, 0, 0.0, 0.0, 0.0, 0.0)
    offered = (notices - 1) / (last - first) if last > first else float(notices)
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    return Latency(offered, len(values), q[49], q[94], q[98], values[-1], behind)


KEPT_UP_SHORTFALL = 0.03
"""A probe keeps up when its producers achieve the rate asked (within this share) …"""
KEPT_UP_BEHIND = 0.5
"""… and, when the last of them finishes, fewer deliveries than this many seconds' worth
of the rate are still to go: a queue that grew through the run leaves more."""


@dataclass(frozen=True)
class Probe:
    asked: float  # deliveries per second
    latency: Latency
    kept_up: bool


def kept_up(asked: float, lat: Latency) -> bool:
    """Did producers and worker together sustain ``asked`` deliveries/s?"""
    achieved = lat.offered * workload.CHANNELS
    return achieved >= asked * (1 - KEPT_UP_SHORTFALL) and lat.behind <= asked * KEPT_UP_BEHIND


def end_to_end_capacity(
    folder: Callable[[], Path],
    base: str,
    drain: float,
    seconds: float,
    concurrency: int,
    poll: float,
    steps: int,
) -> tuple[float, list[Probe]]:
    """The highest rate (deliveries/s) the enqueue processes and the worker sustain together.

    The drain capacity (a backlog delivered with nothing else running) is an upper
    bound: here the producers' durable enqueues share the cores and the ledger's one
    write lock with the worker, as in every latency row. Bisection between a quarter of
    ``drain`` and ``drain`` itself, ``steps`` probes of ``seconds`` each; the answer is
    the highest rate a probe kept up with (a quarter of ``drain`` if none did).
    """
    low, high = 0.25 * drain, drain
    probes: list[Probe] = []
    for _ in range(steps):
        rate = (low + high) / 2
        lat = run(folder(), base, rate / workload.CHANNELS, seconds, concurrency, poll)
        ok = kept_up(rate, lat)
        probes.append(Probe(rate, lat, ok))
        if ok:
            low = rate
        else:
            high = rate
    return low, probes
