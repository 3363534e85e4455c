"""Circuit breakers and rate limits: one bad channel never holds back the others."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.circuit import CircuitState, admit, after_failure, after_success
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter, CircuitRow, DeliveryState, Gate, Outcome

pytestmark = pytest.mark.integration


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A listener that accepts TCP connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_breaker_state_machine() -> None:
    gate = Gate(concurrency=5, failures=3, cool_down=10)
    row: CircuitRow | None = None
    assert admit(row, 5, 0, 60, "w") == (5, None)
    for at, opens in ((1, False), (2, False), (3, True)):  # the third in a row opens
        row, turned = after_failure(row, "ch", gate, at, "w")
        assert turned is opens
    assert row.state == CircuitState.open
    assert admit(row, 5, 12, 72, "w") == (0, None)  # cooling down
    allowed, probing = admit(row, 5, 13, 73, "w1")  # one probe
    assert allowed == 1
    assert probing is not None
    assert probing.state == CircuitState.half_open
    assert admit(probing, 5, 14, 74, "w2") == (0, None)  # only one, whichever worker asks
    assert admit(probing, 5, 74, 134, "w2")[0] == 1  # unless the prober's lease ran out
    row, turned = after_failure(probing, "ch", gate, 14, "w1")  # the probe failed: open again
    assert turned
    assert row.state == CircuitState.open
    assert admit(row, 5, 20, 80, "w") == (0, None)
    assert admit(row, 5, 24, 84, "w")[0] == 1
    row = after_success("ch", 25, "w")  # the probe succeeded: closed
    assert admit(row, 5, 25, 85, "w") == (5, None)
    row, _ = after_failure(row, "ch", gate, 26, "w")
    row = after_success("ch", 26.5, "w")
    row, turned = after_failure(row, "ch", gate, 27, "w")
    assert not turned
    assert row.failures == 1  # a success in between resets the count


def test_black_holed_channel_opens_and_the_others_complete(
    sink: HttpSink,
    black_hole: str,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, lease: 10s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 50, initial_delay: 20ms, max_delay: 50ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {sink.url}/site
  city-portal:
    adapter: cms_http
    url: {black_hole}/portal
    timeouts: {{connect: 1s, read: 300ms}}
    concurrency: 3
    circuit_breaker: {{failures: 2, cool_down: 1h}}
routes:
  - channels: [trading-website, city-portal]
"""
    )
    with Syndicator.from_config(path) as s:
        for i in range(30):
            s.enqueue(make_notice(id=f"N-{i:03d}"))
        assert not s.drain(timeout=4)  # the black-holed channel never finishes
        rows = s.store.deliveries()
        portal_attempts = list(s.store.attempts(AttemptFilter(channel="city-portal")))
        circuits = s.store.circuits()
    site = [r for r in rows if r.channel == "trading-website"]
    assert len(site) == 30
    assert {r.state for r in site} == {DeliveryState.delivered}
    # Only the attempts in flight when the circuit opened were made: the three lanes,
    # plus one started in the lane that the first failure freed before the second opened it.
    assert 2 <= len(portal_attempts) <= 3 + 1
    assert all(a.outcome is Outcome.transient for a in portal_attempts)
    assert circuits["city-portal"].state == "open"
    status = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(status.stdout)["circuits"]["city-portal"]["state"] == "open"
    table = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "status"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "circuit open: city-portal" in table.stdout


def test_a_single_probe_closes_the_circuit(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/site", [Reply(503), Reply(503)])
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 10ms}}
defaults:
  retry: {{max_attempts: 20, initial_delay: 10ms, max_delay: 10ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {sink.url}/site
    concurrency: 1
    circuit_breaker: {{failures: 2, cool_down: 300ms}}
routes: [{{channels: [trading-website]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        for i in range(5):
            s.enqueue(make_notice(id=f"N-{i}"))
        assert s.drain(timeout=20)
        attempts = list(s.store.attempts(AttemptFilter()))
        circuits = s.store.circuits()
    assert [a.outcome for a in attempts[:3]] == [
        Outcome.transient,
        Outcome.transient,
        Outcome.delivered,
    ]
    # Nothing was tried while the circuit was open: the probe came after the cool-down.
    assert attempts[2].started_at - attempts[1].finished_at >= 0.3
    assert len(attempts) == 7
    assert circuits["trading-website"].state == "closed"


def test_rate_limit_spaces_deliveries(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 10ms}}
channels:
  city-portal:
    adapter: cms_http
    url: {sink.url}/portal
    concurrency: 8
    rate_limit: 20
routes: [{{channels: [city-portal]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        for i in range(12):
            s.enqueue(make_notice(id=f"N-{i}"))
        assert s.drain(timeout=20)
        times = sorted(a.started_at for a in s.store.attempts(AttemptFilter()))
    assert len(times) == 12
    assert len(sink.requests) == 12
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 20 per second: never two starts closer than 50 ms (a little slack for clocks).
    assert min(gaps) >= 0.045
