"""The HTTP fault matrix: every way a channel can answer, and the class it must get.

Each case is a real misbehaving peer on loopback; the delivery goes through the
engine, so what is checked is what the ledger records.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter, DeliveryState, Outcome

pytestmark = pytest.mark.integration


def one_attempt(
    url: str,
    write_config: Callable[[str], Path],
    notice: dict[str, Any],
    *,
    read: str = "2s",
    attempts: int = 1,
) -> tuple[Any, Any]:
    path = write_config(
        f"""
store: {{url: ledger.db}}
defaults:
  retry: {{max_attempts: {attempts}, initial_delay: 10s, jitter: 0s}}
channels:
  city-portal:
    adapter: cms_http
    url: {url}
    auth: {{type: bearer, token: fault-matrix-token}}
    allow_insecure_transport: true
    timeouts: {{connect: 500ms, read: {read}}}
routes: [{{channels: [city-portal]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        s.enqueue(notice)
        s.run(once=True)
        (attempt,) = s.store.attempts(AttemptFilter())
        (delivery,) = s.store.deliveries()
    return attempt, delivery


STATUSES = [
    # status, extra headers, outcome, text the recorded message must hold
    (500, {}, Outcome.transient, "HTTP 500"),
    (502, {}, Outcome.transient, "HTTP 502"),
    (503, {"Retry-After": "120"}, Outcome.transient, "HTTP 503"),
    (429, {"Retry-After": "120"}, Outcome.transient, "HTTP 429"),
    (408, {}, Outcome.transient, "HTTP 408"),
    (400, {}, Outcome.permanent, "HTTP 400"),
    (404, {}, Outcome.permanent, "HTTP 404"),
    (422, {}, Outcome.permanent, "HTTP 422"),
    (401, {}, Outcome.permanent, "credentials"),
    (403, {}, Outcome.permanent, "credentials"),
]


@pytest.mark.parametrize(("status", "headers", "outcome", "text"), STATUSES)
def test_http_status(
    status: int,
    headers: dict[str, str],
    outcome: Outcome,
    text: str,
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    sink.script("/n", [Reply(status, headers=headers)])
    attempt, delivery = one_attempt(f"{sink.url}/n", write_config, make_notice(), attempts=2)
    assert attempt.outcome is outcome
    assert attempt.status == str(status)
    assert text in attempt.error_message
    assert "fault-matrix-token" not in attempt.error_message
    if outcome is Outcome.permanent:
        assert delivery.state is DeliveryState.failed
    else:
        assert delivery.state is DeliveryState.pending
        wait = delivery.next_attempt_at - attempt.finished_at
        if "Retry-After" in headers:
            assert wait >= 119  # the channel asked for two minutes
        else:
            assert 9 <= wait <= 11  # the channel's own schedule


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """A listener whose accept queue is full: a new connection is never established."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(server.getsockname())
        fillers.append(s)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/n"
    for s in fillers:
        s.close()
    server.close()


WIRE = [
    ("connection refused", "closed", "cannot connect"),
    ("connect timeout", "full_backlog", "timed out"),
    ("read timeout", "hang", "timed out (read)"),
    ("reset mid-response", "reset", "connection broken"),
    ("a 200 that is not the expected JSON", "garbage", "not"),
]


@pytest.mark.parametrize(("case", "how", "text"), WIRE, ids=[w[0] for w in WIRE])
def test_wire_failures_are_transient(
    case: str,
    how: str,
    text: str,
    request: pytest.FixtureRequest,
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    from tests.conftest import closed_port

    url = f"{sink.url}/n"
    if how == "closed":
        url = f"http://127.0.0.1:{closed_port()}/n"
    elif how == "full_backlog":
        url = request.getfixturevalue("full_backlog")
    elif how == "hang":
        sink.script("/n", [Reply(hang=True)])
    elif how == "reset":
        sink.script("/n", [Reply(200, reset="mid")])
    elif how == "garbage":
        sink.script("/n", [Reply(200, body=b"<html>maintenance</html>")])
    attempt, delivery = one_attempt(url, write_config, make_notice(), read="500ms")
    assert attempt.outcome is Outcome.transient, attempt.error_message
    assert text in attempt.error_message, attempt.error_message
    assert delivery.state is DeliveryState.dead  # max_attempts: 1, so no second try
