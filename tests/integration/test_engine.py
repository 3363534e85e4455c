"""The engine end to end: enqueue → route → deliver → ledger, over a real HTTP peer."""

from __future__ import annotations

import itertools
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syndicate import Syndicator
from syndicate.adapter import BlockingAdapter, DeliveryContext, Options, Payload, Receipt
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.errors import LedgerVersionError, NoticeConflict, UnroutableNotice
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.store.base import AttemptFilter, DeliveryState, Outcome
from tests.conftest import closed_port
from tests.peers.postgres import on_backend

pytestmark = pytest.mark.integration


@pytest.fixture
def write_config(write_config: Callable[[str], Path], ledger_url: str) -> Callable[[str], Path]:
    """Every engine test that writes a config runs on SQLite and on PostgreSQL."""
    return lambda text: write_config(on_backend(text, ledger_url))


def http_config(url: str, *, attempts: int = 5, extra: str = "") -> str:
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: {attempts}, initial_delay: 50ms, max_delay: 200ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {url}/api/notices
    auth: {{type: bearer, token: s3cr3t-token}}
    allow_insecure_transport: true
    timeouts: {{connect: 1s, read: 2s}}
{extra}
routes:
  - match: {{category: [construction]}}
    channels: [trading-website]
"""


def attempts_of(s: Syndicator) -> list[Any]:
    return list(s.store.attempts(AttemptFilter()))


def test_503_503_200_is_delivered_after_three_attempts(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(503), Reply(503)])
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        accepted = s.enqueue(make_notice())
        assert accepted.channels == ["trading-website"]
        assert s.drain(timeout=20)
        (delivery,) = s.store.deliveries()
        attempts = attempts_of(s)
    assert delivery.state is DeliveryState.delivered
    assert delivery.attempts == 3
    assert [a.outcome for a in attempts] == [
        Outcome.transient,
        Outcome.transient,
        Outcome.delivered,
    ]
    assert [a.status for a in attempts] == ["503", "503", "200"]
    assert [a.number for a in attempts] == [1, 2, 3]
    keys = {r.headers["idempotency-key"] for r in sink.requests}
    assert keys == {"HYZB-2026-0001.v1.trading-website"}
    assert len(sink.requests) == 3
    # The same payload went out every time, and the ledger says which.
    assert len({a.payload_sha256 for a in attempts}) == 1
    assert attempts[-1].remote_id is not None
    assert delivery.remote_id == attempts[-1].remote_id
    assert all(a.finished_at >= a.started_at for a in attempts)


def test_400_fails_after_one_attempt_with_the_server_message(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(400, body=b'{"error": "project_code already used"}')])
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        (delivery,) = s.store.deliveries()
        (attempt,) = attempts_of(s)
    assert delivery.state is DeliveryState.failed
    assert attempt.outcome is Outcome.permanent
    assert attempt.status == "400"
    assert attempt.error_class == "PermanentDeliveryError"
    assert "project_code already used" in (attempt.error_message or "")
    assert len(sink.requests) == 1


def test_connection_refused_is_retried_until_dead(
    write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with Syndicator.from_config(write_config(http_config(url, attempts=3))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        (delivery,) = s.store.deliveries()
        attempts = attempts_of(s)
    assert delivery.state is DeliveryState.dead
    assert [a.outcome for a in attempts] == [Outcome.transient] * 3
    assert all(a.error_class == "TransientDeliveryError" for a in attempts)
    # Each retry waited for its turn: the schedule, not a busy loop.
    gaps = [b.started_at - a.finished_at for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 0.04 for gap in gaps)


def test_retry_after_is_honoured_and_persisted(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(429, headers={"Retry-After": "3600"})])
    path = write_config(http_config(sink.url))
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice())
        s.run(once=True)
        (delivery,) = s.store.deliveries()
    assert delivery.state is DeliveryState.pending
    assert delivery.next_attempt_at is not None
    assert delivery.next_attempt_at - time.time() > 3500
    # A restarted worker keeps the schedule: nothing is due, nothing is sent.
    with Syndicator.from_config(path) as s:
        s.run(once=True)
        assert [d.attempts for d in s.store.deliveries()] == [1]
    assert len(sink.requests) == 1


def test_enqueue_is_idempotent_and_refuses_conflicts(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        first = s.enqueue(make_notice())
        again = s.enqueue(make_notice())
        assert first.created
        assert not again.created
        assert again.status == "already accepted"
        assert first.digest == again.digest
        with pytest.raises(NoticeConflict, match="accepted before with other content"):
            s.enqueue(make_notice(title="另一个标题"))
        newer = s.enqueue(make_notice(version=2, nature="correction", title="更正公告"))
        assert newer.created
        rows = s.store.deliveries()
    assert [(r.notice_version, r.channel) for r in rows] == [
        (1, "trading-website"),
        (2, "trading-website"),
    ]


def test_unroutable_notice_is_refused_and_nothing_is_stored(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    news = make_notice(category="work_news", notice_type="news", project_code=None)
    news.pop("construction")
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        with pytest.raises(UnroutableNotice, match="no enabled channel carries work_news/news"):
            s.enqueue(news)
        assert s.store.deliveries() == []
        assert s.store.notice("HYZB-2026-0001", 1) is None


def test_embargoed_notice_waits_for_publish_at(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        s.enqueue(make_notice(publish_at="2036-01-01T09:00:00+08:00", valid_until=None))
        s.run(once=True)
        (delivery,) = s.store.deliveries()
    assert delivery.state is DeliveryState.pending
    assert sink.requests == []


def test_a_newer_ledger_is_refused(tmp_path: Path) -> None:
    from syndicate.store.sqlite import SqliteStore

    SqliteStore(tmp_path / "l.db").close()
    with sqlite3.connect(tmp_path / "l.db") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerVersionError, match="schema version 99, newer"):
        SqliteStore(tmp_path / "l.db")


# --- a third-party adapter, registered through the entry-point group ------------

PLUGIN = """
from typing import ClassVar
from syndicate.adapter import Adapter, Options, Payload, Receipt

class NoticeBoardOptions(Options):
    board: str

class NoticeBoardAdapter(Adapter[NoticeBoardOptions]):
    kind: ClassVar[str] = "notice_board"
    Options = NoticeBoardOptions
    posted: ClassVar[list[str]] = []

    def render(self, notice, ctx):
        return Payload("text/plain", {"sheet.txt": notice.title.encode()}, target=self.options.board)

    async def send(self, payload, ctx):
        self.posted.append(ctx.idempotency_key)
        return Receipt(remote_id=f"{self.options.board}/{len(self.posted)}")
"""


def test_third_party_adapter_registered_by_entry_point(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    site = tmp_path / "site"
    (site / "board_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "board_plugin.py").write_text(PLUGIN)
    (site / "board_plugin-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: board-plugin\nVersion: 1.0\n"
    )
    (site / "board_plugin-1.0.dist-info" / "entry_points.txt").write_text(
        "[syndicate.adapters]\nnotice_board = board_plugin:NoticeBoardAdapter\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "board_plugin", raising=False)  # a fresh plugin each run
    registry = AdapterRegistry.from_entry_points()
    assert "notice_board" in registry.names()
    path = write_config(
        """
store: {url: ledger.db}
defaults: {retry: {initial_delay: 10ms, jitter: 0s}}
channels:
  hall-board:
    adapter: notice_board
    board: 交易大厅公告栏
routes:
  - channels: [hall-board]
"""
    )
    with Syndicator.from_config(path, registry=registry) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=10)
        (delivery,) = s.store.deliveries()
    assert delivery.state is DeliveryState.delivered
    assert delivery.remote_id == "交易大厅公告栏/1"
    kind = registry.get("notice_board")
    assert kind.posted == ["HYZB-2026-0001.v1.hall-board"]  # type: ignore[attr-defined]


# --- concurrency: per-channel limit, blocking adapters in threads ------------------


class _ProbeOptions(Options):
    delay: float = 0.05


class ProbeAdapter(BlockingAdapter[_ProbeOptions]):
    """Counts how many sends run at once and on which threads."""

    kind: ClassVar[str] = "probe"
    Options = _ProbeOptions
    lock = threading.Lock()
    running = 0
    peak = 0
    seen_threads: ClassVar[set[str]] = set()

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        return Payload("text/plain", {"t": notice.title.encode()})

    def send_blocking(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        cls = type(self)
        with cls.lock:
            cls.running += 1
            cls.peak = max(cls.peak, cls.running)
            cls.seen_threads.add(threading.current_thread().name)
        time.sleep(self.options.delay)
        with cls.lock:
            cls.running -= 1
        return Receipt(remote_id=ctx.idempotency_key)


def test_per_channel_concurrency_limit_and_threads(
    write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    registry = AdapterRegistry({"probe": ProbeAdapter})
    path = write_config(
        """
store: {url: ledger.db}
worker: {poll_interval: 10ms}
channels:
  slow-board: {adapter: probe, concurrency: 2, delay: 0.05}
routes: [{channels: [slow-board]}]
"""
    )
    with Syndicator.from_config(path, registry=registry) as s:
        for i in range(8):
            s.enqueue(make_notice(id=f"HYZB-2026-{i:04d}"))
        assert s.drain(timeout=20)
        states = {d.state for d in s.store.deliveries()}
    assert states == {DeliveryState.delivered}
    assert ProbeAdapter.peak == 2
    assert ProbeAdapter.seen_threads
    assert all(t.startswith("syndicate-slow-board") for t in ProbeAdapter.seen_threads)


def test_every_delivery_ends_in_exactly_one_terminal_state(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/api/notices", [Reply(503), Reply(400), Reply(500), Reply(404)])
    with Syndicator.from_config(write_config(http_config(sink.url, attempts=2))) as s:
        for i in range(6):
            s.enqueue(make_notice(id=f"N-{i}"))
        assert s.drain(timeout=20)
        rows = s.store.deliveries()
        counts = s.store.counts()
        attempts = attempts_of(s)
    assert all(r.state.terminal for r in rows)
    assert sum(counts.values()) == 6  # notices × routed channels
    for r in rows:
        mine = [a for a in attempts if a.delivery_id == r.id]
        assert len(mine) == r.attempts
        if r.state is DeliveryState.delivered:
            assert mine[-1].outcome is Outcome.delivered
            assert all(a.outcome is Outcome.transient for a in mine[:-1])


def test_the_channel_timeout_bounds_a_whole_attempt(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/slow", [Reply(200, delay=3)])
    path = write_config(
        f"""
store: {{url: ledger.db}}
defaults: {{retry: {{max_attempts: 1}}}}
channels:
  city-portal:
    adapter: cms_http
    url: {sink.url}/slow
    timeout: 300ms
    timeouts: {{read: 30s}}
routes: [{{channels: [city-portal]}}]
"""
    )
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice())
        s.run(once=True)
        (attempt,) = attempts_of(s)
    assert attempt.outcome is Outcome.transient
    assert attempt.error_message == "no answer within 0.3s"
