"""A channel that paces us with 503 + Retry-After is waited for, not shut out by its circuit."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter, DeliveryState

pytestmark = pytest.mark.integration


def test_retry_after_answers_do_not_open_the_circuit(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    # Two answers in a row would open this circuit for an hour if they counted as failures.
    busy = Reply(503, headers={"Retry-After": "1"})
    sink.script("/api/notices", [busy] * 8)
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
defaults:
  retry: {{max_attempts: 10, initial_delay: 10ms, jitter: 0s}}
  circuit_breaker: {{failures: 2, cool_down: 1h}}
channels:
  trading-website: {{adapter: cms_http, url: {sink.url}/api/notices}}
routes: [{{channels: [trading-website]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        for i in range(4):
            s.enqueue(make_notice(id=f"HYZB-2026-{i:04d}"))
        assert s.drain(timeout=60), s.channel_health().as_dict()
        states = {d.state for d in s.deliveries().items}
        attempts = list(s.store.attempts(AttemptFilter()))
        circuit = s.channel_health().get("trading-website")
    assert states == {DeliveryState.delivered}
    assert sum(a.status == "503" for a in attempts) == 8
    assert circuit is not None
    assert circuit.circuit.state == "closed"
    # Every retry waited at least what the channel asked for.
    by_delivery: dict[int, list[float]] = {}
    for a in attempts:
        by_delivery.setdefault(a.delivery_id, []).append(a.started_at)
    for times in by_delivery.values():
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))


def test_failures_without_retry_after_still_open_the_circuit(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(503)] * 3)
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
defaults:
  concurrency: 1
  retry: {{max_attempts: 10, initial_delay: 10ms, jitter: 0s}}
  circuit_breaker: {{failures: 2, cool_down: 1h}}
channels:
  trading-website: {{adapter: cms_http, url: {sink.url}/api/notices}}
routes: [{{channels: [trading-website]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice())
        s.enqueue(make_notice(id="HYZB-2026-0002"))
        assert not s.drain(timeout=3)  # held back by the open circuit
        assert s.channel_health().get("trading-website").circuit.state == "open"  # type: ignore[union-attr]
