"""Enqueue-to-delivered latency at a steady offered load.

The upstream system enqueues from its own process (as the CLI or an
integrating application does) at a fixed rate; the worker runs in this
process. Latency is read back from the ledger itself: a notice's
``accepted_at`` to each delivery's successful attempt ``finished_at``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from syndicate.syndicator import Syndicator

from . import workload


@dataclass(frozen=True)
class Latency:
    offered: float  # notices per second actually enqueued
    deliveries: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def _produce(config: str, rate: float, seconds: float, ready: float) -> None:
    """Enqueue ``rate`` notices a second for ``seconds`` on a fixed schedule, no catch-up bursts."""
    syn = Syndicator.from_config(config, registry=workload.registry())
    try:
        total = int(rate * seconds)
        start = ready
        for i in range(total):
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
    try:

        async def go() -> None:
            stop = asyncio.Event()
            worker = asyncio.create_task(syn.run_async(stop=stop))
            await asyncio.sleep(0.3)  # the worker is up and idle before the first notice
            ctx = multiprocessing.get_context("spawn")
            producer = ctx.Process(
                target=_produce, args=(str(config), rate, seconds, time.time() + 1.0)
            )
            producer.start()
            try:
                while producer.is_alive():
                    await asyncio.sleep(0.2)
                deadline = time.monotonic() + 60 + seconds
                while time.monotonic() < deadline:
                    counts = syn.store.counts()
                    if sum(counts.values()) >= total and all(s.terminal for (_, s) in counts):
                        break
                    await asyncio.sleep(0.1)
            finally:
                producer.join()
                stop.set()
                await worker

        asyncio.run(go())
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
    return Latency(offered, len(values), q[49], q[94], q[98], values[-1])
