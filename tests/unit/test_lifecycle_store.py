"""A notice's life in the ledger: versions follow the original, supersede, withdraw, expire.

The store contract, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from syndicate.approval import Decision
from syndicate.audit.verify import verify
from syndicate.errors import ApprovalRefused, NoticeError
from syndicate.store import open_store
from syndicate.store.base import (
    AttemptRecord,
    DeliveryState,
    Next,
    NoticeRecord,
    Outcome,
    Purpose,
    Store,
)
from syndicate.store.sqlite import SqliteStore

from .test_store import ok, record


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


def version(v: int, *, valid_until: float | None = None) -> NoticeRecord:
    return NoticeRecord(
        **{
            **record("N-1").__dict__,
            "version": v,
            "digest": str(v) * 64,
            "valid_until": valid_until,
        }
    )


def states(store: Store) -> dict[tuple[int, str, str], DeliveryState]:
    return {
        (d.notice_version, d.channel, d.purpose.value): d.state
        for d in store.deliveries(notice_id="N-1")
    }


def routed(store: Store) -> dict[str, int]:
    """The year's deliveries due by channel (the yearly report's 应发)."""
    return {ch: n for (_, ch), n in store.year_counts(1970).routed.items() if ch}


def deliver(store: Store, channel: str, at: float) -> None:
    for claim in store.claim("w", at, 30, 10, channel=channel):
        store.record(claim, "w", ok(at), Next(DeliveryState.delivered))


def test_a_new_version_follows_the_original_and_supersedes_what_is_pending(store: Store) -> None:
    store.accept(version(1), ["a", "b", "c"], 100.0)
    deliver(store, "a", 100.0)
    (held,) = store.claim("w", 100.0, 30, 10, channel="b")  # b: v1 in flight
    result = store.accept(version(2), ["d"], 110.0)  # today's routes pick d only
    assert result.channels == ["d", "a", "b", "c"]
    assert states(store) == {
        (1, "a", "publish"): DeliveryState.delivered,
        (1, "b", "publish"): DeliveryState.in_flight,
        (1, "c", "publish"): DeliveryState.superseded,  # pending: never sent
        (2, "a", "publish"): DeliveryState.pending,
        (2, "b", "publish"): DeliveryState.pending,
        (2, "c", "publish"): DeliveryState.pending,
        (2, "d", "publish"): DeliveryState.pending,
    }
    # v2 does not overtake v1 on b while v1 is in flight there.
    taken = {c.channel for c in store.claim("w", 111.0, 30, 10)}
    assert taken == {"a", "c", "d"}
    store.record(held, "w", ok(112.0), Next(DeliveryState.delivered))
    (after,) = store.claim("w", 113.0, 30, 10, channel="b")
    assert (after.notice_version, after.purpose) == (2, Purpose.publish)
    counts = store.counts()
    assert counts[("c", DeliveryState.superseded)] == 1
    # Due for the year's figures: both versions where v1 went out or is going, v2 alone on c.
    assert routed(store) == {"a": 2, "b": 2, "c": 1, "d": 1}
    assert verify(store).ok


def test_an_attempt_overtaken_while_it_ran_is_not_retried(store: Store) -> None:
    store.accept(version(1), ["a"], 100.0)
    (claim,) = store.claim("w", 100.0, 30, 10)
    store.accept(version(2), ["a"], 105.0)
    failed = AttemptRecord(106.0, 106.0, Outcome.transient, "TransientDeliveryError", "503")
    store.record(claim, "w", failed, Next(DeliveryState.pending, 200.0))
    assert states(store)[(1, "a", "publish")] is DeliveryState.superseded
    (next_,) = store.claim("w", 107.0, 30, 10)
    assert next_.notice_version == 2
    assert routed(store) == {"a": 1}
    assert verify(store).ok


def test_versions_out_of_turn_are_refused_and_change_nothing(store: Store) -> None:
    store.accept(version(1), ["a"], 100.0)
    store.accept(version(3), ["a"], 101.0)
    head = store.chain_head()
    with pytest.raises(NoticeError, match=r"at version 3; version 2 is older"):
        store.accept(version(2), ["a"], 102.0)
    assert store.chain_head() == head
    assert [r.version for r in store.notice_versions("N-1")] == [1, 3]


def test_a_withdrawal_cancels_what_is_pending_and_takes_down_what_is_out(store: Store) -> None:
    store.accept(version(1, valid_until=900.0), ["a", "b", "c"], 100.0, expiring={"c"})
    deliver(store, "a", 100.0)
    (held,) = store.claim("w", 100.0, 30, 10, channel="b")
    done = store.withdraw("N-1", "招标人撤回", 120.0, by="ops")
    assert (done.cancelled, done.channels) == (2, ["a", "b"])  # c's publication and its expiry
    assert done.withdrawal.reason == "招标人撤回"
    assert done.withdrawal.by == "ops"
    assert states(store) == {
        (1, "a", "publish"): DeliveryState.delivered,
        (1, "b", "publish"): DeliveryState.in_flight,
        (1, "c", "publish"): DeliveryState.cancelled,
        (1, "c", "expiry"): DeliveryState.cancelled,
        (1, "a", "withdrawal"): DeliveryState.pending,
        (1, "b", "withdrawal"): DeliveryState.pending,
    }
    keys = {d.idempotency_key for d in store.deliveries(notice_id="N-1")}
    assert "N-1.v1.a.withdrawal" in keys
    # b's withdrawal waits for the publication under way there.
    assert [c.idempotency_key for c in store.claim("w", 121.0, 30, 10)] == ["N-1.v1.a.withdrawal"]
    failed = AttemptRecord(122.0, 122.0, Outcome.transient, "TransientDeliveryError", "503")
    store.record(held, "w", failed, Next(DeliveryState.pending, 130.0))
    assert states(store)[(1, "b", "publish")] is DeliveryState.cancelled
    (after,) = store.claim("w", 123.0, 30, 10, channel="b")
    assert after.purpose is Purpose.withdrawal
    # Only what went out stays due in the year's figures; withdrawals are no publications.
    assert routed(store) == {"a": 1, "b": 0, "c": 0}
    delivered = store.year_counts(1970).delivered
    assert {key: n for key, n in delivered.items() if n} == {("construction", "a"): 1}
    head = store.chain_head()
    with pytest.raises(NoticeError, match="withdrawn already"):
        store.withdraw("N-1", "again", 124.0)
    with pytest.raises(NoticeError, match="was withdrawn"):
        store.accept(version(2), ["a"], 125.0)
    with pytest.raises(NoticeError, match="no notice N-2"):
        store.withdraw("N-2", "unknown", 126.0)
    assert store.chain_head() == head
    assert verify(store).ok


def test_expiries_are_scheduled_superseded_and_not_work_left(store: Store) -> None:
    store.accept(version(1, valid_until=500.0), ["a", "b"], 100.0, expiring={"b"})
    expiry = {d.channel: d for d in store.deliveries() if d.purpose is Purpose.expiry}
    assert list(expiry) == ["b"]
    assert expiry["b"].next_attempt_at == 500.0
    assert expiry["b"].idempotency_key == "N-1.v1.b.expiry"
    deliver(store, "a", 100.0)
    deliver(store, "b", 100.0)
    assert store.next_due() == 500.0
    assert store.next_due(now=200.0) is None  # drain does not wait for valid_until
    assert store.next_due(now=600.0) == 500.0
    assert store.claim("w", 499.0, 30, 10) == []
    store.accept(version(2, valid_until=800.0), ["a"], 300.0, expiring={"b"})
    assert states(store)[(1, "b", "expiry")] is DeliveryState.superseded
    assert states(store)[(2, "b", "expiry")] is DeliveryState.pending
    deliver(store, "a", 301.0)
    deliver(store, "b", 301.0)
    (due,) = store.claim("w", 800.0, 30, 10)
    assert (due.notice_version, due.purpose) == (2, Purpose.expiry)
    store.record(due, "w", ok(800.0), Next(DeliveryState.delivered))
    # An expiry that went out is not a publication: the year's figures do not count it.
    assert store.year_counts(1970).delivered[("construction", "b")] == 2
    assert store.counts()[("b", DeliveryState.delivered)] == 3
    assert verify(store).ok


def test_verify_finds_an_edited_withdrawal(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "ledger.db")
    try:
        s.accept(version(1), ["a"], 100.0)
        s.withdraw("N-1", "原因", 110.0)
        with sqlite3.connect(tmp_path / "ledger.db") as db:
            db.execute("UPDATE withdrawals SET reason = '别的原因'")
        result = verify(s)
        assert not result.ok
        assert result.findings[0].table == "withdrawals"
        assert "reason" in result.findings[0].message
    finally:
        s.close()


def test_a_version_awaiting_approval_supersedes_nothing_until_approved(store: Store) -> None:
    store.accept(version(1), ["a", "b"], 100.0)
    deliver(store, "a", 100.0)
    awaiting = replace(
        version(2, valid_until=900.0),
        approval_steps=("分管领导",),
        content='{"valid_until": "1970-01-01T00:15:00+00:00"}',  # read again when approved
    )
    result = store.accept(awaiting, ["c"], 110.0, expiring={"b"})
    assert result.awaiting_approval
    assert states(store)[(1, "b", "publish")] is DeliveryState.pending
    assert {k for k in states(store) if k[0] == 2} == set()
    decided = store.decide(
        "N-1",
        2,
        "分管领导",
        Decision.approved,
        approver="王副主任",
        digest=awaiting.digest,
        now=120.0,
        expiring={"b"},
    )
    assert decided.channels == ["c", "a", "b"]
    assert states(store) == {
        (1, "a", "publish"): DeliveryState.delivered,
        (1, "b", "publish"): DeliveryState.superseded,
        (2, "a", "publish"): DeliveryState.pending,
        (2, "b", "publish"): DeliveryState.pending,
        (2, "b", "expiry"): DeliveryState.pending,
        (2, "c", "publish"): DeliveryState.pending,
    }
    assert verify(store).ok


def test_a_version_overtaken_while_awaiting_approval_is_not_approved(store: Store) -> None:
    awaiting = replace(version(1), approval_steps=("分管领导",))
    store.accept(awaiting, ["a"], 100.0)
    store.accept(version(2), ["a"], 110.0)  # needs no approval: it goes out
    head = store.chain_head()
    with pytest.raises(ApprovalRefused, match="version 2 of N-1 was accepted since"):
        store.decide(
            "N-1",
            1,
            "分管领导",
            Decision.approved,
            approver="王",
            digest=awaiting.digest,
            now=120.0,
        )
    assert store.chain_head() == head
    assert states(store) == {(2, "a", "publish"): DeliveryState.pending}


def test_a_replay_never_sends_an_overtaken_version_or_a_withdrawn_notice(store: Store) -> None:
    store.accept(version(1), ["a", "b"], 100.0)
    for claim in store.claim("w", 100.0, 30, 10):
        refused = AttemptRecord(101.0, 101.0, Outcome.permanent, "PermanentDeliveryError", "422")
        store.record(claim, "w", refused, Next(DeliveryState.failed))
    store.accept(version(2), ["a"], 110.0)  # v2 on a and b: v1's failures there are outdated
    deliver(store, "a", 111.0)
    assert store.replay(120.0, dry_run=True) == 0
    assert store.replay(120.0, notice_id="N-1", notice_version=1) == 0
    assert states(store)[(1, "a", "publish")] is DeliveryState.failed
    (v2b,) = store.claim("w", 121.0, 30, 10, channel="b")
    refused = AttemptRecord(122.0, 122.0, Outcome.permanent, "PermanentDeliveryError", "422")
    store.record(v2b, "w", refused, Next(DeliveryState.failed))
    assert store.replay(123.0, dry_run=True) == 1  # v2 on b: the current version
    store.withdraw("N-1", "撤回", 124.0)
    assert store.replay(125.0) == 0  # a withdrawn notice is not published again
    assert states(store)[(2, "b", "publish")] is DeliveryState.failed
    assert verify(store).ok
