"""The hash chain: a ledger edited, inserted into or cut with raw SQL is caught at the right row."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from syndicate.audit import anchor
from syndicate.audit.chain import EMPTY, Event, Head, Walk, extend
from syndicate.audit.verify import Verification, verify, verify_anchored
from syndicate.store.base import AttemptRecord, DeliveryState, Next, Outcome
from syndicate.store.sqlite import SqliteStore

from .test_store import ok, record


def fail(at: float, message: str = "HTTP 503") -> AttemptRecord:
    return AttemptRecord(at, at, Outcome.transient, "TransientDeliveryError", message, "503")


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A ledger with history: two notices, retries, a dead delivery replayed, deliveries done."""
    path = tmp_path / "ledger.db"
    store = SqliteStore(path)
    store.accept(record("N-1"), ["a", "b"], 100.0)  # links 1-3
    store.accept(record("N-2", digest="b" * 64), ["a"], 100.0)  # links 4-5
    claims = store.claim("w", 100.0, 30, 10)
    # Recorded in delivery order, whatever order the claim took them in (channel by channel).
    for c in sorted(claims, key=lambda c: c.delivery_id):  # links 6-8: attempts 1-3
        next_ = (
            Next(DeliveryState.pending, 150.0)
            if c.channel == "b"
            else Next(DeliveryState.delivered)
        )
        store.record(c, "w", fail(101.0) if c.channel == "b" else ok(101.0), next_)
    (c,) = store.claim("w", 150.0, 30, 10)
    store.record(c, "w", fail(151.0), Next(DeliveryState.dead))  # link 9: attempt 4
    assert store.replay(160.0) == 1  # link 10
    store.close()
    return path


def raw(path: Path, script: str) -> None:
    """Tamper the way an insider with the database file would: triggers dropped first."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "DROP TRIGGER IF EXISTS attempts_no_update; DROP TRIGGER IF EXISTS attempts_no_delete;"
        "DROP TRIGGER IF EXISTS chain_no_update; DROP TRIGGER IF EXISTS chain_no_delete;"
        "DROP TRIGGER IF EXISTS approvals_no_update; DROP TRIGGER IF EXISTS approvals_no_delete;"
        "DROP TRIGGER IF EXISTS approval_requests_no_update;" + script
    )
    db.close()


def check(path: Path) -> Verification:
    store = SqliteStore(path)
    try:
        return verify(store)
    finally:
        store.close()


def first(path: Path) -> tuple[int | None, str, int | None, str]:
    result = check(path)
    assert not result.ok, "tampering went unnoticed"
    f = result.findings[0]
    return f.seq, f.table, f.ref, f.change


def test_an_untouched_ledger_verifies_with_its_head(ledger: Path) -> None:
    result = check(ledger)
    assert result.ok, result.findings
    assert result.rows == result.head.seq == 10
    assert result.head == result.recorded
    kinds = [link.kind for link in SqliteStore(ledger).chain_links(0, 100)]
    assert kinds == [
        "notice", "delivery", "delivery", "notice", "delivery",
        "attempt", "attempt", "attempt", "attempt", "replay",
    ]  # fmt: skip


def test_an_edited_attempt_is_caught_at_its_link(ledger: Path) -> None:
    raw(ledger, "UPDATE attempts SET error_message = 'HTTP 200' WHERE id = 4;")
    assert first(ledger) == (9, "attempts", 4, "edited")
    assert "error_message" in check(ledger).findings[0].message


def test_a_deleted_attempt_is_caught_at_its_link(ledger: Path) -> None:
    raw(ledger, "DELETE FROM attempts WHERE id = 2;")
    assert first(ledger) == (7, "attempts", 2, "deleted")


def test_an_inserted_attempt_is_caught(ledger: Path) -> None:
    raw(
        ledger,
        "INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at, outcome)"
        " VALUES (3, 2, 'w', 9, 170.0, 171.0, 'delivered');",
    )
    assert first(ledger) == (None, "attempts", 5, "inserted")


def test_an_edited_delivery_state_is_caught_at_its_last_link(ledger: Path) -> None:
    raw(ledger, "UPDATE deliveries SET state = 'failed' WHERE id = 1;")
    # Delivery 1 ("N-1" to "a") was last moved by attempt 1, link 6.
    seq, table, ref, change = first(ledger)
    assert (table, ref, change) == ("deliveries", 1, "edited")
    assert seq == 6


def test_a_deleted_and_an_inserted_delivery_are_caught(ledger: Path) -> None:
    raw(
        ledger,
        "PRAGMA foreign_keys = OFF; DELETE FROM deliveries WHERE id = 2;"
        "INSERT INTO deliveries (notice_pk, channel, idempotency_key, state, next_attempt_at,"
        " updated_at) VALUES (2, 'z', 'N-2.v1.z', 'delivered', 0, 0);",
    )
    findings = check(ledger).findings
    assert [(f.table, f.ref, f.change) for f in findings] == [
        ("deliveries", 2, "deleted"),
        ("deliveries", 4, "inserted"),
    ]


def test_edited_notice_content_is_caught(ledger: Path) -> None:
    raw(ledger, 'UPDATE notices SET content = \'{"title":"x"}\' WHERE pk = 2;')
    assert first(ledger) == (4, "notices", 2, "edited")
    assert "content_sha256" in check(ledger).findings[0].message


def test_an_edited_chain_row_is_caught_where_it_was_edited(ledger: Path) -> None:
    raw(ledger, "UPDATE chain SET body = replace(body, 'HTTP 503', 'HTTP 200') WHERE seq = 7;")
    assert first(ledger) == (7, "chain", 7, "edited")


def test_a_chain_row_edited_with_its_hashes_recomputed_breaks_the_next_link(ledger: Path) -> None:
    store = SqliteStore(ledger)
    (link,) = store.chain_links(6, 1)
    store.close()
    forged_body = link.body.replace("HTTP 503", "HTTP 200")
    (forged,), _ = extend(Head(6, link.prev_hash), [
        Event(link.kind, link.ref, json.loads(forged_body), link.at, link.delivery)
    ])  # fmt: skip
    raw(
        ledger,
        f"UPDATE chain SET body = '{forged.body}', body_sha256 = '{forged.body_sha256}',"
        f" hash = '{forged.hash}' WHERE seq = 7;"
        "UPDATE attempts SET error_message = 'HTTP 200' WHERE id = 2;",
    )
    assert first(ledger) == (8, "chain", 8, "inserted")


def test_a_deleted_chain_row_is_caught(ledger: Path) -> None:
    raw(ledger, "DELETE FROM chain WHERE seq = 5;")
    assert first(ledger) == (5, "chain", 5, "deleted")


def test_a_cut_tail_is_caught_against_the_head(ledger: Path) -> None:
    raw(ledger, "DELETE FROM chain WHERE seq >= 9;")
    assert first(ledger) == (9, "chain", 9, "deleted")


def test_an_inserted_chain_row_is_caught(ledger: Path) -> None:
    raw(
        ledger,
        "INSERT INTO chain SELECT seq + 1, at, kind, ref, delivery, body, body_sha256, hash,"
        " hash FROM chain WHERE seq = 10;",
    )
    assert first(ledger) == (11, "chain", 11, "inserted")


def test_a_rewritten_ledger_passes_alone_but_not_against_an_anchor(ledger: Path) -> None:
    anchors = ledger.parent / "anchors.txt"
    store = SqliteStore(ledger)
    assert verify_anchored(store, anchors).appended is not None
    # Rewrite history from link 7 on, every hash recomputed: the chain alone cannot tell.
    links = store.chain_links(0, 100)
    store.close()
    raw(
        ledger,
        "UPDATE attempts SET error_message = 'HTTP 200' WHERE id = 2; DELETE FROM chain WHERE seq >= 7;",
    )
    head = Head(6, links[5].hash)
    events = [
        Event(
            x.kind,
            x.ref,
            json.loads(x.body.replace("HTTP 503", "HTTP 200") if x.seq == 7 else x.body),
            x.at,
            x.delivery,
        )
        for x in links[6:]
    ]
    forged, new_head = extend(head, events)
    db = sqlite3.connect(ledger, isolation_level=None)
    db.executemany(
        "INSERT INTO chain VALUES (:seq, :at, :kind, :ref, :delivery, :body, :body_sha256,"
        " :prev_hash, :hash)",
        [f.params() for f in forged],
    )
    db.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (new_head.hash,))
    db.close()
    assert check(ledger).ok  # a perfect forgery, as far as the ledger itself can show
    before = anchors.read_bytes()
    store = SqliteStore(ledger)
    result = verify_anchored(store, anchors)
    store.close()
    assert result.appended is None
    (finding,) = result.verification.findings
    assert (finding.table, finding.change, finding.seq) == ("anchor", "edited", 10)
    assert "rewritten" in finding.message
    assert anchors.read_bytes() == before  # refused: nothing appended


def test_anchors_accumulate_and_a_bad_anchor_file_is_refused_untouched(ledger: Path) -> None:
    anchors = ledger.parent / "anchors.txt"
    store = SqliteStore(ledger)
    try:
        verify_anchored(store, anchors)
        store.accept(record("N-3", digest="c" * 64), ["a"], 200.0)
        second = verify_anchored(store, anchors)
        assert second.checked == 1
        assert second.appended is not None
        assert [a.seq for a in anchor.read(anchors)] == [10, 12]
        garbage = ledger.parent / "not-anchors.txt"
        garbage.write_text("hello\n", encoding="utf-8")
        with pytest.raises(anchor.AnchorError, match=r"not-anchors.txt:1: not an anchor line"):
            verify_anchored(store, garbage)
        assert garbage.read_text(encoding="utf-8") == "hello\n"
    finally:
        store.close()


def test_a_cut_ledger_is_refused_against_an_anchor(ledger: Path) -> None:
    anchors = ledger.parent / "anchors.txt"
    store = SqliteStore(ledger)
    verify_anchored(store, anchors)
    store.close()
    raw(ledger, "DELETE FROM chain WHERE seq >= 9; UPDATE chain_head SET seq = 8,"
        " hash = (SELECT hash FROM chain WHERE seq = 8); PRAGMA foreign_keys = OFF;"
        "DELETE FROM attempts WHERE id = 4; UPDATE deliveries SET state = 'pending', attempts = 1"
        " WHERE id = 2;")  # fmt: skip
    store = SqliteStore(ledger)
    result = verify_anchored(store, anchors)
    store.close()
    assert [(f.table, f.change) for f in result.verification.findings][-1] == ("anchor", "deleted")


def test_the_walk_reports_the_first_break_only() -> None:
    links, head = extend(EMPTY, [Event("notice", i, {"n": i}, 1.0) for i in range(1, 6)])
    walk = Walk(head)
    assert walk.feed(links)
    assert walk.finish() is None
    assert walk.head == head
    broken = [*links[:2], links[3], links[4]]
    walk = Walk(head)
    assert not walk.feed(broken)
    finding = walk.finish()
    assert finding is not None
    assert (finding.seq, finding.change) == (3, "deleted")


def test_concurrent_writers_are_chained_in_commit_order(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    SqliteStore(path).close()

    def enqueue(prefix: str) -> None:
        store = SqliteStore(path, busy_timeout=30)
        try:
            for i in range(40):
                store.accept(
                    record(f"{prefix}-{i}", digest=f"{prefix}{i}".ljust(64, "0")), ["a", "b"], 1.0
                )
        finally:
            store.close()

    threads = [threading.Thread(target=enqueue, args=(p,)) for p in ("x", "y", "z")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = check(path)
    assert result.ok, result.findings
    assert result.head.seq == 3 * 40 * 3


def test_a_ledger_from_before_the_chain_is_chained_as_it_stands(tmp_path: Path) -> None:
    from .test_migrations import v1_ledger_with_data

    path = tmp_path / "old.db"
    v1_ledger_with_data(path)
    result = check(path)
    assert result.ok, result.findings
    assert result.head.seq == 4  # one notice, one attempt, two deliveries
    raw(path, "UPDATE deliveries SET remote_url = 'x' WHERE id = 1;")
    assert first(path) == (3, "deliveries", 1, "edited")


@pytest.fixture
def approved(tmp_path: Path) -> Path:
    """A notice approved in two steps (links 1-2 accepted, 3-4 approvals, 5 its delivery)."""
    from dataclasses import replace

    from syndicate.approval import Decision

    path = tmp_path / "ledger.db"
    store = SqliteStore(path)
    store.accept(replace(record("N-1"), approval_steps=("科室负责人", "分管领导")), ["a"], 100.0)
    for step, at in (("科室负责人", 110.0), ("分管领导", 120.0)):
        store.decide("N-1", 1, step, Decision.approved, approver="李科长", digest="a" * 64, now=at)
    store.close()
    return path


def test_an_approval_edited_deleted_or_inserted_is_caught(approved: Path) -> None:
    assert check(approved).ok
    assert [link.kind for link in SqliteStore(approved).chain_links(0, 10)] == [
        "notice", "approval_request", "approval", "approval", "delivery",
    ]  # fmt: skip
    raw(approved, "UPDATE approvals SET approver = '王副主任' WHERE id = 1;")
    assert first(approved) == (3, "approvals", 1, "edited")
    assert "approver" in check(approved).findings[0].message
    raw(
        approved,
        "UPDATE approvals SET approver = '李科长' WHERE id = 1; DELETE FROM approvals WHERE id = 2;",
    )
    assert first(approved) == (4, "approvals", 2, "deleted")
    raw(
        approved,
        "INSERT INTO approvals (id, notice_pk, position, step, decision, approver, digest, at)"
        " VALUES (2, 1, 1, '分管领导', 'approved', '李科长', 'aaaa', 120.0);",
    )
    assert first(approved) == (4, "approvals", 2, "edited")
    raw(
        approved,
        "INSERT INTO approvals (notice_pk, position, step, decision, approver, digest, at)"
        " VALUES (1, 2, '主任', 'approved', '某人', 'aaaa', 130.0);",
    )
    assert (None, "approvals", 3, "inserted") in [
        (f.seq, f.table, f.ref, f.change) for f in check(approved).findings
    ]


def test_an_edited_approval_request_is_caught(approved: Path) -> None:
    raw(
        approved,
        'UPDATE approval_requests SET channels = \'["a", "z"]\' WHERE notice_pk = 1;',
    )
    assert first(approved) == (2, "approval_requests", 1, "edited")
