"""An attempt whose answer was lost is in doubt: the next one looks before it sends again."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter, DeliveryState, Outcome
from tests.conftest import closed_port

pytestmark = pytest.mark.integration


def config(url: str, *, lookup: bool = True) -> str:
    lookup_block = (
        f"""
    lookup:
      url: "{url}/api/lookup?key={{{{ key | urlencode }}}}"
      remote_id: "0.id"
      remote_url: "0.url"
"""
        if lookup
        else ""
    )
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 4, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
channels:
  website:
    adapter: cms_http
    url: {url}/api/notices
    timeouts: {{connect: 1s, read: 2s}}
{lookup_block}
routes:
  - channels: [website]
"""


def run(
    path: Path, notice: dict[str, Any]
) -> tuple[DeliveryState, list[Any], str | None, str | None]:
    with Syndicator.from_config(path) as s:
        s.enqueue(notice)
        assert s.drain(timeout=30)
        (delivery,) = s.store.deliveries()
        attempts = list(s.store.attempts(AttemptFilter()))
    return delivery.state, attempts, delivery.remote_id, delivery.remote_url


def test_a_lost_answer_is_looked_up_and_found_so_not_sent_again(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(reset="before")])
    found = [{"id": "post-77", "url": f"{sink.url}/p/77"}]
    sink.script("/api/lookup", [Reply(200, body=json.dumps(found).encode())])

    state, attempts, remote_id, remote_url = run(write_config(config(sink.url)), make_notice())

    assert state is DeliveryState.delivered
    assert [(a.outcome, a.error_class) for a in attempts] == [
        (Outcome.transient, "InDoubtDeliveryError"),
        (Outcome.delivered, None),
    ]
    assert attempts[1].status == "found"
    assert (remote_id, remote_url) == ("post-77", f"{sink.url}/p/77")
    assert [(r.method, r.path) for r in sink.requests] == [
        ("POST", "/api/notices"),
        ("GET", "/api/lookup"),
    ]


def test_a_lost_answer_not_found_by_lookup_is_sent_again(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(reset="before")])
    sink.script("/api/lookup", [Reply(200, body=b"[]")])

    state, attempts, _, _ = run(write_config(config(sink.url)), make_notice())

    assert state is DeliveryState.delivered
    assert [r.method for r in sink.requests] == ["POST", "GET", "POST"]
    assert attempts[1].status == "200"


def test_a_failed_lookup_keeps_the_delivery_in_doubt(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(reset="before")])
    sink.script("/api/lookup", [Reply(503), Reply(404)])

    state, attempts, _, _ = run(write_config(config(sink.url)), make_notice())

    assert state is DeliveryState.delivered
    assert [a.error_class for a in attempts] == ["InDoubtDeliveryError"] * 2 + [None]
    assert "looking it up failed" in str(attempts[1].error_message)
    assert [r.method for r in sink.requests] == ["POST", "GET", "GET", "POST"]


def test_a_refused_connection_is_not_in_doubt(
    write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    state, attempts, _, _ = run(write_config(config(url)), make_notice())
    assert state is DeliveryState.dead
    assert {a.error_class for a in attempts} == {"TransientDeliveryError"}


def test_without_a_lookup_a_lost_answer_is_sent_again_with_the_same_key(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(reset="before")])

    state, _, _, _ = run(write_config(config(sink.url, lookup=False)), make_notice())

    assert state is DeliveryState.delivered
    assert [r.method for r in sink.requests] == ["POST", "POST"]
    assert len({r.headers["idempotency-key"] for r in sink.requests}) == 1


def test_a_restarted_worker_takes_its_dead_predecessors_leases_at_once(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{socket.gethostname()}:{ended.stdout.strip()}:0a1b2c"
    alive = f"{socket.gethostname()}:{os.getppid()}:3d4e5f"  # a live process: its lease holds
    with Syndicator.from_config(write_config(config(sink.url))) as s:
        s.enqueue(make_notice())
        s.enqueue(make_notice(id="HYZB-2026-0002"))
        (first,) = s.store.claim(dead, time.time(), 300, 1)
        (second,) = s.store.claim(alive, time.time(), 300, 1)
        assert not s.drain(timeout=3)  # the live holder's delivery waits out its lease
        states = {d.notice_id: d.state for d in s.store.deliveries()}
        (attempt,) = s.store.attempts(AttemptFilter())
    assert states == {
        first.notice_id: DeliveryState.delivered,
        second.notice_id: DeliveryState.in_flight,
    }
    assert attempt.outcome is Outcome.delivered
    # In doubt (the dead worker may have sent it): looked up first, then sent.
    assert [(r.method, r.path) for r in sink.requests] == [
        ("GET", "/api/lookup"),
        ("POST", "/api/notices"),
    ]
