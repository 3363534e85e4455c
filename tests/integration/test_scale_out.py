"""Several worker processes on one PostgreSQL ledger: a channel's limits hold across them all,
counted where it matters, at the receiving peer."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter, DeliveryState

pytestmark = pytest.mark.integration

WORKERS = 4


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Path], list[subprocess.Popen[bytes]]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path) -> list[subprocess.Popen[bytes]]:
        env = {**os.environ}
        env.pop("SYNDICATE_CONFIG", None)
        for i in range(WORKERS):
            with (tmp_path / f"worker-{i}.log").open("wb") as log:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "syndicate", "-c", str(config), "run", "-q"],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        return started

    yield start
    for p in started:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in started:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_delivered(s: Syndicator, total: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = s.store.counts()
        delivered = sum(n for (_, state), n in counts.items() if state is DeliveryState.delivered)
        if delivered == total:
            return
        assert time.monotonic() < deadline, f"not all delivered: {counts}"
        time.sleep(0.1)


def test_limits_hold_across_four_workers_counted_at_the_peer(
    pg_url: str,
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
    workers: Callable[[Path], list[subprocess.Popen[bytes]]],
    tmp_path: Path,
) -> None:
    n = 12
    # Each request to the slow portal takes 0.4 s: one at a time, all workers counted.
    sink.script("/slow", [Reply(delay=0.4)] * n)
    config = write_config(
        f"""
store: {{url: "{pg_url}"}}
worker: {{poll_interval: 50ms, lease: 30s, grace: 5s}}
defaults:
  timeout: 10s
  retry: {{max_attempts: 3, initial_delay: 100ms, jitter: 0s}}
channels:
  paced-portal:
    adapter: cms_http
    url: {sink.url}/paced
    concurrency: 4
    rate_limit: 2
  slow-portal:
    adapter: cms_http
    url: {sink.url}/slow
    concurrency: 1
  trading-website:
    adapter: cms_http
    url: {sink.url}/site
routes:
  - channels: [paced-portal, slow-portal, trading-website]
"""
    )
    with Syndicator.from_config(config) as s:
        procs = workers(config)
        for i in range(n):
            s.enqueue(make_notice(id=f"N-{i:03d}"))
        wait_delivered(s, 3 * n)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))
    assert all(p.poll() is None for p in procs), logs

    def arrivals(path: str) -> list[float]:
        return sorted(r.time for r in sink.requests if r.path == path)

    paced, slow = arrivals("/paced"), arrivals("/slow")
    assert len(paced) == len(slow) == len(arrivals("/site")) == n
    assert sink.duplicates == 0
    # rate_limit 2: starts are booked 0.5 s apart for all workers together. At the peer,
    # k + 1 arrivals span at least (k - 1) / 2 s: never more than 2 a second, give or take
    # the one a worker's first (cold) connection delays into the next slot's second.
    # Four workers each pacing alone would send 8 a second.
    for k in range(2, n):
        span = min(b - a for a, b in zip(paced, paced[k:], strict=False))
        assert span >= (k - 1) / 2, (k, span, paced)
    # concurrency 1: the next request reaches the peer only after the previous answer.
    assert min(b - a for a, b in itertools.pairwise(slow)) >= 0.35
    # The work was shared: more than one worker recorded attempts.
    with Syndicator.from_config(config) as s:
        seen = {a.worker for a in s.store.attempts(AttemptFilter())}
    assert len(seen) > 1
