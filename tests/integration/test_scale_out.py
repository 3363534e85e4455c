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
        logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
        for path in logs:
            with path.open("wb") as log:
                started.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "syndicate", "-c", str(config), "run"],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                )
        # Every worker polls before the work comes: on a slow machine the first one up
        # would otherwise have it all to itself.
        deadline = time.monotonic() + 120
        while not all("running; Ctrl-C stops it" in p.read_text() for p in logs):
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in started), "a worker exited"
            time.sleep(0.1)
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
    n = 20  # enough that four workers pacing alone would show, even with a slow first one
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
        opened = time.time()  # the peer's clock: the sink stamps requests with time.time()
        for i in range(n):
            s.enqueue(make_notice(id=f"N-{i:03d}"))
            # The site's delivery is done in milliseconds: by the next notice the worker
            # that took it is idle again, and all four race for it. Back to back, the busy
            # one's refill (in the commit that records its attempt) could take every next
            # notice before the others woke, and the work would not be shared.
            time.sleep(0.05)
        wait_delivered(s, 3 * n)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker-*.log")))
    assert all(p.poll() is None for p in procs), logs

    def arrivals(path: str) -> list[float]:
        return sorted(r.time for r in sink.requests if r.path == path)

    paced, slow = arrivals("/paced"), arrivals("/slow")
    assert len(paced) == len(slow) == len(arrivals("/site")) == n
    assert sink.duplicates == 0
    # rate_limit 2: every start is booked in the ledger at least 0.5 s after the one before,
    # for all workers together, the first no earlier than the enqueue; a request reaches
    # the peer at or after its booked start, however late a busy machine makes it. So in
    # every window [opened, t] of the peer's clock at most 2 per second arrive, plus the
    # one booked at the window's very edge: 2·(t − opened) + 1. Lateness only lowers the
    # count; no slack for it is needed. Four workers each pacing alone would send 8 a
    # second: all 20 within 2.5 s of the first, where the bound allows 6 + 2·(how late
    # the first came).
    edge = 0.01  # a clock read and a float stored in the ledger, not a scheduling margin
    for t in paced:
        count = sum(1 for a in paced if a <= t)
        assert count <= 2 * (t - opened + edge) + 1, (
            count,
            t - opened,
            [a - opened for a in paced],
        )
    # concurrency 1: the next request reaches the peer only after the previous answer.
    assert min(b - a for a, b in itertools.pairwise(slow)) >= 0.35
    # The work was shared: more than one worker recorded attempts.
    with Syndicator.from_config(config) as s:
        seen = {a.worker for a in s.store.attempts(AttemptFilter())}
    assert len(seen) > 1
