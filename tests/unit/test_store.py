"""The store contract: what every backend must do, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from syndicate.errors import LeaseLost, NoticeConflict
from syndicate.store import open_store
from syndicate.store.base import (
    AttemptFilter,
    AttemptRecord,
    DeliveryState,
    Gate,
    Next,
    NoticeFilter,
    NoticeRecord,
    Outcome,
    Store,
    TokenRecord,
)
from syndicate.store.postgres import PostgresStore
from syndicate.store.sqlite import SqliteStore
from tests.peers.postgres import PgServer, db_url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def record(notice_id: str = "N-1", digest: str = "a" * 64, publish_at: float = 0.0) -> NoticeRecord:
    return NoticeRecord(
        id=notice_id,
        version=1,
        category="construction",
        notice_type="tender",
        region_code="441600",
        title="标题",
        digest=digest,
        content="{}",
        accepted_at=0.0,
        publish_at=publish_at,
    )


def ok(at: float) -> AttemptRecord:
    return AttemptRecord(at, at, Outcome.delivered, remote_id="r")


def test_accept_commits_notice_and_deliveries_together(store: Store) -> None:
    result = store.accept(record(), ["a", "b"], 100.0)
    assert result.created
    assert [(d.channel, d.state) for d in store.deliveries()] == [
        ("a", DeliveryState.pending),
        ("b", DeliveryState.pending),
    ]
    again = store.accept(record(), ["a", "b", "c"], 200.0)
    assert not again.created
    assert again.channels == ["a", "b"]  # what was routed then, not now
    with pytest.raises(NoticeConflict):
        store.accept(record(digest="b" * 64), ["a"], 300.0)
    assert len(store.deliveries()) == 2


def test_a_batch_is_accepted_in_one_transaction_with_a_result_for_each(store: Store) -> None:
    store.accept(record("N-1"), ["a"], 100.0)
    results = store.accept_many(
        [
            (record("N-3", publish_at=9e8), ["a", "b"]),
            (record("N-1", digest="b" * 64), ["a"]),  # conflicts with the accepted N-1
            (record("N-1"), ["a"]),  # the same again
            (record("N-2"), ["b"]),
        ],
        200.0,
        by="upstream",
    )
    assert isinstance(results[1], NoticeConflict)
    assert [getattr(r, "created", None) for r in results] == [True, None, False, True]
    assert sorted(d.notice_id for d in store.deliveries()) == ["N-1", "N-2", "N-3", "N-3"]
    assert sorted(o.subject for o in store.operations()) == ["N-2.v1", "N-3.v1"]


def test_a_group_names_who_enqueued_each_notice(store: Store) -> None:
    results = store.accept_many(
        [(record("N-1"), ["a"]), (record("N-1"), ["a"]), (record("N-2"), ["b"])],
        200.0,
        authors=["e-tendering", "procurement", None],
    )
    assert [getattr(r, "created", None) for r in results] == [True, False, True]
    assert [(o.actor, o.subject) for o in store.operations()] == [("e-tendering", "N-1.v1")]


def test_claim_respects_due_time_limit_and_channel(store: Store) -> None:
    store.accept(record("N-1"), ["a", "b"], 100.0)
    store.accept(record("N-2", publish_at=500.0), ["a"], 100.0)
    assert store.claim("w", 99.0, 30, 10) == []
    claims = store.claim("w", 100.0, 30, 10, channel="a")
    assert [(c.notice_id, c.channel) for c in claims] == [("N-1", "a")]
    assert store.claim("w", 100.0, 30, 10, channel="a") == []  # held under lease
    assert len(store.claim("w", 600.0, 30, 1)) == 1  # limit


def test_an_expired_lease_is_claimed_again_and_the_stale_owner_cannot_write(store: Store) -> None:
    store.accept(record(), ["a"], 100.0)
    (first,) = store.claim("w1", 100.0, 30, 10)
    assert store.claim("w2", 120.0, 30, 10) == []  # lease still valid
    (second,) = store.claim("w2", 131.0, 30, 10)  # expired: claimed again
    assert second.fence > first.fence
    with pytest.raises(LeaseLost):
        store.record(first, "w1", ok(132.0), Next(DeliveryState.delivered))
    store.record(second, "w2", ok(133.0), Next(DeliveryState.delivered))
    (attempt,) = store.attempts(AttemptFilter())
    assert attempt.worker == "w2"
    assert store.deliveries()[0].state is DeliveryState.delivered


def test_retry_schedule_and_replay_keep_history(store: Store) -> None:
    store.accept(record(), ["a"], 100.0)
    (c,) = store.claim("w", 100.0, 30, 10)
    fail = AttemptRecord(100.0, 101.0, Outcome.transient, "TransientDeliveryError", "503", "503")
    store.record(c, "w", fail, Next(DeliveryState.pending, 160.0))
    assert store.next_due() == 160.0
    assert store.claim("w", 150.0, 30, 10) == []
    (c,) = store.claim("w", 160.0, 30, 10)
    assert (c.tries, c.first_try_at) == (1, 100.0)
    store.record(c, "w", fail, Next(DeliveryState.dead))
    assert store.replay(200.0, channel="other") == 0
    assert store.replay(200.0, notice_id="N-1") == 1
    (c,) = store.claim("w", 200.0, 30, 10)
    assert (c.attempts, c.tries, c.first_try_at) == (2, 0, None)  # fresh budget
    store.record(c, "w", ok(201.0), Next(DeliveryState.delivered))
    numbers = [(a.number, a.outcome) for a in store.attempts(AttemptFilter())]
    assert numbers == [(1, Outcome.transient), (2, Outcome.transient), (3, Outcome.delivered)]


def test_attempts_filter_and_page(store: Store) -> None:
    for i in range(2500 // 100):
        store.accept(record(f"N-{i}"), ["a", "b"], 100.0)
    now = time.time()
    for c in store.claim("w", now, 30, 10_000):
        store.record(c, "w", ok(now), Next(DeliveryState.delivered))
    assert len(list(store.attempts(AttemptFilter()))) == 50
    assert len(list(store.attempts(AttemptFilter(notice_id="N-3")))) == 2
    assert list(store.attempts(AttemptFilter(outcome=Outcome.transient))) == []
    assert len(list(store.attempts(AttemptFilter(channel="a")))) == 25
    newest = list(store.attempts(AttemptFilter(limit=3, newest_first=True)))
    assert [a.id for a in newest] == [50, 49, 48]
    assert store.counts() == {
        ("a", DeliveryState.delivered): 25,
        ("b", DeliveryState.delivered): 25,
    }


def test_attempts_are_append_only(tmp_path: Path) -> None:
    import sqlite3

    s = SqliteStore(tmp_path / "l.db")
    s.accept(record(), ["a"], 100.0)
    (c,) = s.claim("w", 100.0, 30, 10)
    s.record(c, "w", ok(100.0), Next(DeliveryState.delivered))
    s.close()
    with (
        sqlite3.connect(tmp_path / "l.db") as db,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        db.execute("DELETE FROM attempts")


def test_attempts_come_in_keyset_pages(store: Store) -> None:
    for i in range(1100):
        store.accept(record(f"N-{i}"), ["a"], 100.0)
    claims = store.claim("w", 100.0, 30, 2000)
    store.record_many("w", [(c, ok(101.0), Next(DeliveryState.delivered)) for c in claims])
    ids = [a.id for a in store.attempts(AttemptFilter())]
    assert len(ids) == 1100
    assert ids == sorted(set(ids))
    newest = [a.id for a in store.attempts(AttemptFilter(newest_first=True, limit=1050))]
    assert newest == sorted(ids, reverse=True)[:1050]


def test_a_claim_is_in_doubt_after_a_dead_owner_or_a_lost_answer(store: Store) -> None:
    store.accept(record("N-1"), ["a"], 100.0)
    (first,) = store.claim("w1", 100.0, 30, 10)
    assert not first.in_doubt
    # w1 died holding it: whoever takes it next cannot know whether it went out.
    (second,) = store.claim("w2", 131.0, 30, 10)
    assert second.in_doubt
    lost = AttemptRecord(
        131.0, 132.0, Outcome.transient, "InDoubtDeliveryError", "connection reset"
    )
    store.record(second, "w2", lost, Next(DeliveryState.pending, 140.0))
    (third,) = store.claim("w2", 140.0, 30, 10)
    assert third.in_doubt
    refused = AttemptRecord(
        140.0, 141.0, Outcome.transient, "TransientDeliveryError", "connection refused"
    )
    store.record(third, "w2", refused, Next(DeliveryState.pending, 150.0))
    (fourth,) = store.claim("w2", 150.0, 30, 10)
    assert not fourth.in_doubt


def test_earlier_delivery_is_the_newest_lower_version_delivered_on_the_channel(
    store: Store,
) -> None:
    def version(v: int) -> NoticeRecord:
        return NoticeRecord(**{**record("N-1").__dict__, "version": v, "digest": str(v) * 64})

    store.accept(version(1), ["a", "b"], 100.0)
    assert store.earlier_delivery("N-1", 1, "a") is None
    for claim in store.claim("w", 100.0, 30, 10, channel="a"):
        store.record(claim, "w", ok(100.0), Next(DeliveryState.delivered))
    store.accept(version(2), ["a", "b"], 110.0)
    store.accept(version(3), ["a"], 120.0)
    # Version 2 never went out on a (version 3 superseded it): a carries version 1.
    on_a = store.earlier_delivery("N-1", 3, "a")
    assert on_a is not None
    assert (on_a.version, on_a.state, on_a.remote_id) == (1, DeliveryState.delivered, "r")
    assert store.earlier_delivery("N-1", 3, "b") is None  # nothing delivered there
    including = store.earlier_delivery("N-1", 1, "a", including=True)
    assert including is not None
    assert including.version == 1
    assert store.earlier_delivery("N-1", 3, "c") is None


# --- limits every worker sharing the ledger obeys -----------------------------


def test_concurrency_counts_every_workers_leases(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)  # two workers, one ledger
    try:
        for i in range(10):
            one.accept(record(f"N-{i}"), ["a"], 100.0)
        gate = {"a": Gate(concurrency=3, failures=5, cool_down=60)}
        assert len(one.claim_many("w1", 100.0, 30, {"a": 2}, gate)) == 2
        assert len(two.claim_many("w2", 100.0, 30, {"a": 5}, gate)) == 1  # 3 in flight in all
        assert two.claim_many("w2", 101.0, 30, {"a": 5}, gate) == []
        # Expired leases no longer count, and their deliveries are due again.
        assert len(two.claim_many("w2", 131.0, 30, {"a": 5}, gate)) == 3
    finally:
        one.close()
        two.close()


def test_the_circuit_is_shared_and_lets_one_probe_through(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)
    try:
        for i in range(5):
            one.accept(record(f"N-{i}"), ["a"], 100.0)
        gate = {"a": Gate(concurrency=10, failures=2, cool_down=60)}
        assert one.circuit_failure("a", gate["a"], 100.0, "w1")[1] is False
        row, opened = two.circuit_failure("a", gate["a"], 101.0, "w2")  # two in a row, any worker
        assert opened
        assert (row.state, row.reopens_at) == ("open", 161.0)
        assert one.claim_many("w1", 120.0, 30, {"a": 5}, gate) == []
        (probe,) = one.claim_many("w1", 161.0, 30, {"a": 5}, gate)
        assert two.claim_many("w2", 162.0, 30, {"a": 5}, gate) == []  # one probe, all workers
        assert one.circuits()["a"].state == "half_open"
        one.record(probe, "w1", ok(163.0), Next(DeliveryState.delivered))
        assert two.circuits()["a"].state == "closed"
        assert len(two.claim_many("w2", 164.0, 30, {"a": 5}, gate)) == 4
    finally:
        one.close()
        two.close()


def test_an_outage_is_one_incident_across_workers_and_its_recovery_is_told_once(
    store_url: str,
) -> None:
    one, two = open_store(store_url), open_store(store_url)
    try:
        for i in range(3):
            one.accept(record(f"N-{i}"), ["a"], 100.0)
        gate = Gate(concurrency=10, failures=1, cool_down=10)
        row, opened = one.circuit_failure("a", gate, 100.0, "w1")
        assert (opened, row.opened_at) == (True, 100.0)  # a new outage
        (probe,) = two.claim_many("w2", 110.0, 30, {"a": 5}, {"a": gate})
        row, opened = two.circuit_failure("a", gate, 111.0, "w2")  # the probe failed
        assert (opened, row.opened_at) == (True, 100.0)  # the same outage, reopened
        two.record(probe, "w2", ok(111.5), Next(DeliveryState.pending, 200.0))
        (probe,) = one.claim_many("w1", 121.0, 30, {"a": 5}, {"a": gate})
        others = two.claim_many("w2", 121.0, 30, {"a": 5})  # taken without the gate
        done = one.record_batch("w1", [(probe, ok(122.0), Next(DeliveryState.delivered))])
        assert [(r.channel, r.state, r.opened_at) for r in done.recovered] == [
            ("a", "half_open", 100.0)
        ]
        later = [(c, ok(123.0), Next(DeliveryState.delivered)) for c in others]
        assert two.record_batch("w2", later).recovered == []  # closed already: told once
        assert one.circuits()["a"].opened_at is None
    finally:
        one.close()
        two.close()


def test_alerts_are_deliveries_but_no_published_notices(store: Store) -> None:
    store.accept(record("N-1", publish_at=1.7e9), ["a"], 1.7e9)
    alert = replace(record("ALERT-failed-a-1-1", publish_at=1.7e9), kind="alert")
    assert store.accept(alert, ["ops"], 1.7e9).created
    assert not store.accept(alert, ["ops"], 1.7e9 + 1).created  # one alert per incident
    assert [d.channel for d in store.deliveries()] == ["a", "ops"]
    (claim,) = store.claim("w", 1.7e9, 30, 5, channel="ops")
    assert claim.kind == "alert"
    store.record(claim, "w", ok(1.7e9), Next(DeliveryState.delivered))
    assert [n.id for n in store.notice_page(NoticeFilter(), None, 10)] == ["N-1"]
    assert store.counts() == {("a", DeliveryState.pending): 1}
    assert store.accepted_since(0.0) == 1
    year = store.year_counts(2023)
    assert set(year.routed) == {("construction", "a")}
    assert set(year.delivered) == {("construction", "a")}  # no ops


def test_starts_are_booked_one_interval_apart_across_workers(store_url: str) -> None:
    one, two = open_store(store_url), open_store(store_url)
    try:
        starts = [s.book_start("a", 0.5, 100.0) for s in (one, two, one, two)]
        assert starts == [100.0, 100.5, 101.0, 101.5]
        assert one.book_start("a", 0.5, 200.0) == 200.0  # an idle channel starts at once
        assert two.book_start("b", 0.5, 100.0) == 100.0  # channels are paced apart
    finally:
        one.close()
        two.close()


def test_fences_strictly_increase_per_delivery(store: Store) -> None:
    store.accept(record(), ["a"], 100.0)
    fences = [c.fence for t in (100.0, 131.0, 162.0) for c in store.claim("w", t, 30, 10)]
    assert fences == sorted(set(fences))
    assert len(fences) == 3


def test_another_connection_s_write_wakes_a_waiting_worker(store_url: str) -> None:
    waiting, writer = open_store(store_url), open_store(store_url)
    if isinstance(waiting, PostgresStore):
        waiting.poll_every = 3600.0  # so only the notification can say it
    try:
        waiting.changed()
        deadline = time.monotonic() + 5
        while waiting.changed() and time.monotonic() < deadline:
            pass  # settle: the first calls may report the listening start
        writer.accept(record(), ["a"], time.time())
        deadline = time.monotonic() + 5
        while not waiting.changed():
            assert time.monotonic() < deadline, "a write elsewhere was never noticed"
            time.sleep(0.01)
    finally:
        waiting.close()
        writer.close()


def test_without_notify_a_postgresql_worker_still_finds_work_by_polling(pg_url: str) -> None:
    waiting = PostgresStore(pg_url, notify=False, poll_every=1.0)
    writer = PostgresStore(pg_url, notify=False)
    try:
        while waiting.changed():
            pass
        writer.accept(record(), ["a"], time.time())
        assert not waiting.changed()  # no notification was sent
        deadline = time.monotonic() + 5
        while not waiting.changed():
            assert time.monotonic() < deadline, "polling never came round"
            time.sleep(0.05)
        assert len(waiting.claim("w", time.time(), 30, 10)) == 1
    finally:
        waiting.close()
        writer.close()


def test_tokens_operations_and_a_dead_owner_s_leases(store: Store) -> None:
    store.add_token(TokenRecord("t1", "upstream", ("enqueue", "read"), "s" * 64, 100.0))
    found = store.token("t1")
    assert found is not None
    assert found.scopes == ("enqueue", "read")
    assert store.revoke_token("upstream", 110.0) == 1
    assert [t.revoked_at for t in store.tokens()] == [110.0]
    store.accept(record(), ["a"], 100.0, by="upstream")
    store.record_operation(120.0, "ops", "replay", "N-1")
    assert [(o.actor, o.action) for o in store.operations()] == [
        ("ops", "replay"),
        ("upstream", "enqueue"),
    ]
    store.claim("dead-worker", 130.0, 300, 10)
    assert store.lease_owners() == ["dead-worker"]
    assert store.expire_leases("dead-worker", 131.0) == 1
    (again,) = store.claim("w2", 131.0, 30, 10)
    assert again.in_doubt


def coded(notice_id: str, title: str, code: str | None) -> NoticeRecord:
    content = json.dumps({"project_code": code} if code is not None else {})
    return replace(record(notice_id, digest=notice_id.ljust(64, "0")), title=title, content=content)


def test_text_finds_title_or_project_code_the_same_for_every_length(store: Store) -> None:
    if isinstance(store, SqliteStore):
        store.text_chunk = 2  # the index's candidates come in several looks
    titles = ["东环路改造工程招标公告", "河源市政府采购公告", '50%_off "quoted"', "Road works"]
    store.accept_many(
        [(coded(f"N-{i}", t, f"HYZB-{i}"), ["a"]) for i, t in enumerate(titles)]
        + [(coded("N-9", "工作动态", None), ["a"])],
        100.0,
    )

    def found(text: str, before: int | None = None, limit: int = 50) -> list[str]:
        return [n.id for n in store.notice_page(NoticeFilter(text=text), before, limit)]

    assert found("改造工程") == ["N-0"]
    assert found("公告") == ["N-1", "N-0"]  # two characters: below a trigram
    assert found("告") == ["N-1", "N-0"]
    assert found("HYZB-") == ["N-3", "N-2", "N-1", "N-0"]
    assert found("HYZB-", limit=3) == ["N-3", "N-2", "N-1"]
    pks = [n.pk for n in store.notice_page(NoticeFilter(text="HYZB-"), None, 50)]
    assert found("HYZB-", before=pks[1]) == ["N-1", "N-0"]
    assert found("50%_") == ["N-2"]  # wildcards are taken literally
    assert found("0_%") == []
    assert found('"quoted"') == ["N-2"]
    assert found("ad wo") == ["N-3"]
    assert found("不存在的") == []
    assert [
        n.id for n in store.notice_page(NoticeFilter(text="HYZB-", category="x"), None, 50)
    ] == []


def test_postgresql_indexes_text_by_trigram_where_pg_trgm_is_installed(
    pg_server: PgServer, pg_url: str
) -> None:
    plain = PostgresStore(pg_url)  # migrated without the extension: no index, still found
    try:
        plain.accept(coded("N-1", "东环路改造工程", "HYZB-1"), ["a"], 100.0)
        assert [n.id for n in plain.notice_page(NoticeFilter(text="环路改"), None, 5)] == ["N-1"]
        assert not plain.raw_rows(
            "SELECT 1 AS one FROM pg_indexes WHERE indexname = 'notices_text_trgm'"
        )
    finally:
        plain.close()
    name = f"{pg_server.prefix}_trgm"
    pg_server.admin(f'CREATE DATABASE "{name}"')
    pg_server.created.append(name)
    url = db_url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
    store = PostgresStore(url)
    try:
        store.accept(coded("N-1", "东环路改造工程", "HYZB-1"), ["a"], 100.0)
        assert store.raw_rows(
            "SELECT 1 AS one FROM pg_indexes WHERE indexname = 'notices_text_trgm'"
        )
        assert [n.id for n in store.notice_page(NoticeFilter(text="环路改"), None, 5)] == ["N-1"]
        assert [n.id for n in store.notice_page(NoticeFilter(text="HYZB-1"), None, 5)] == ["N-1"]
    finally:
        store.close()
        pg_server.drop(url)


def test_the_attempt_log_by_error_class_reads_its_own_index(tmp_path: Path) -> None:
    """Newest first by error class: the partial index, not a walk back through the log."""
    import sqlite3

    from syndicate.store import sqlite as backend

    path = tmp_path / "ledger.db"
    store = backend.SqliteStore(path)
    try:
        where = store._where(["filter_error_class", "filter_since"])
    finally:
        store.close()
    query = backend.Q["attempts"].format(where=where, order="DESC")
    db = sqlite3.connect(path)
    try:
        plan = db.execute(
            f"EXPLAIN QUERY PLAN {query}",
            {"error_class": "TransientDeliveryError", "since": 0.0, "limit": 50},
        ).fetchall()
    finally:
        db.close()
    assert any("attempts_error_class" in row[3] for row in plan), plan


def test_the_checks_since_a_time_are_found_by_their_own_index(tmp_path: Path) -> None:
    # Fetch-back asks every round; the chain holds every check ever made.
    import sqlite3

    from syndicate.store import sqlite as backend

    path = tmp_path / "ledger.db"
    backend.SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        plan = db.execute(f"EXPLAIN QUERY PLAN {backend.Q['last_checks']}", {"since": 0.0})
        details = [row[3] for row in plan.fetchall()]
    finally:
        db.close()
    assert any("chain_checks" in d for d in details), details
