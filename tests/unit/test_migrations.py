"""Versioned migrations: every backend at the same versions, an old ledger upgraded with its data."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from syndicate.audit.verify import verify
from syndicate.errors import LedgerVersionError
from syndicate.store import migrate
from syndicate.store.base import (
    SCHEMA_VERSION,
    AttemptFilter,
    DeliveryState,
    Next,
    NoticeFilter,
    NoticeRecord,
)
from syndicate.store.sqlite import SqliteStore, _statements, _Tx

from .test_store import ok


def test_every_backend_has_the_same_versions() -> None:
    versions = {b: [m.version for m in migrate.migrations(b)] for b in migrate.BACKENDS}
    assert versions["sqlite"] == versions["postgresql"] == list(range(1, SCHEMA_VERSION + 1))


def v1_ledger_with_data(path: Path) -> None:
    """A ledger as version 1 of the schema left it: one notice, one delivery done, one pending."""
    db = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(migrate.migrations("sqlite")[0].sql):
        db.execute(statement)
    db.executescript(
        """
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO notices VALUES (1, 'N-1', 1, 'construction', 'tender', '441600', 'T',
            'd1', '{}', 100.0, '1970-01-01', 100.0);
        INSERT INTO deliveries (id, notice_pk, channel, idempotency_key, state, attempts, tries,
            next_attempt_at, fence, updated_at)
        VALUES (1, 1, 'a', 'N-1.v1.a', 'delivered', 1, 1, 101.0, 1, 101.0),
               (2, 1, 'b', 'N-1.v1.b', 'pending', 0, 0, 100.0, 0, 100.0);
        INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at, outcome)
        VALUES (1, 1, 'w', 1, 100.5, 101.0, 'delivered');
        INSERT INTO circuits VALUES ('b', 'open', 5, 200.0, 'w', 150.0);
        INSERT INTO tallies VALUES ('1970-01-01', 'construction', '', 1, 0),
            ('1970-01-01', 'construction', 'a', 1, 1), ('1970-01-01', 'construction', 'b', 1, 0);
        """
    )
    db.close()


def test_a_version_1_ledger_is_upgraded_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_ledger_with_data(path)
    store = SqliteStore(path)
    try:
        assert (store.schema_found, store.schema_version) == (1, SCHEMA_VERSION)
        assert [(d.channel, d.state) for d in store.deliveries()] == [
            ("a", DeliveryState.delivered),
            ("b", DeliveryState.pending),
        ]
        assert [a.number for a in store.attempts(AttemptFilter())] == [1]
        assert store.circuits()["b"].state == "open"
        assert store.circuits()["b"].opened_at is None  # opened before circuits kept it
        assert [n.id for n in store.notice_page(NoticeFilter(), None, 5)] == ["N-1"]  # a notice
        assert store.year_counts(1970).delivered == {
            ("construction", "a"): 1,
            ("construction", "b"): 0,
        }
        (claim,) = store.claim("w2", 300.0, 30, 10)
        store.record(claim, "w2", ok(301.0), Next(DeliveryState.delivered))
        assert store.year_counts(1970).delivered[("construction", "b")] == 1
    finally:
        store.close()
    again = SqliteStore(path)  # a second open finds nothing to do
    assert (again.schema_found, again.schema_version) == (SCHEMA_VERSION, SCHEMA_VERSION)
    again.close()


def test_a_ledger_newer_than_the_code_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerVersionError, match=r"schema version 99, newer than .*upgrade"):
        SqliteStore(path)
    result = subprocess.run(
        [sys.executable, "-m", "syndicate", "migrate", "--store", f"sqlite:///{path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 4
    assert "schema version 99, newer than this syndicate understands" in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("99",)


def test_migrate_command_says_what_it_did(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    v1_ledger_with_data(path)

    def run() -> str:
        return subprocess.run(
            [sys.executable, "-m", "syndicate", "migrate", "--store", f"sqlite:///{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert f"schema version 1 → {SCHEMA_VERSION}" in run()
    assert f"schema version {SCHEMA_VERSION}, up to date" in run()
    store = SqliteStore(path)
    assert len(store.deliveries()) == 2
    store.close()


def test_two_processes_opening_a_new_ledger_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "race.db"
    code = f"from syndicate.store.sqlite import SqliteStore; SqliteStore({str(path)!r}).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    store = SqliteStore(path)
    assert store.schema_found == SCHEMA_VERSION
    store.close()


def ledger_at(path: Path, version: int) -> None:
    """A ledger as ``version`` left it, chained, with a delivery done and one pending."""
    v1_ledger_with_data(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("BEGIN")
    for m in migrate.migrations("sqlite")[1:version]:
        for statement in _statements(m.sql):
            db.execute(statement)
        migrate.then(m.version, _Tx(db), 200.0)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
    db.execute("COMMIT")
    db.close()


def test_a_version_11_ledger_gets_delivery_purposes_with_its_data_and_indexes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v11.db"
    ledger_at(path, 11)
    store = SqliteStore(path)
    try:
        assert (store.schema_found, store.schema_version) == (11, SCHEMA_VERSION)
        rows = [(d.id, d.channel, d.state, d.purpose.value) for d in store.deliveries()]
        assert rows == [
            (1, "a", DeliveryState.delivered, "publish"),
            (2, "b", DeliveryState.pending, "publish"),
        ]
        assert [a.delivery_id for a in store.attempts(AttemptFilter())] == [1]
        assert verify(store).ok  # the chain recorded these rows before they had a purpose
        db = sqlite3.connect(path)
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {
            "deliveries_due",
            "deliveries_channel_state",
            "deliveries_state",
            "deliveries_next",
            "deliveries_follow_up",
        } <= indexes
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.close()
        # The new constraints hold: a second version supersedes the pending delivery.
        v2 = NoticeRecord("N-1", 2, "construction", "tender", "441600", "T", "d2", "{}", 300, 0)
        store.accept(v2, ["a"], 300.0)
        states = {(d.notice_version, d.channel): d.state for d in store.deliveries()}
        assert states[(1, "b")] is DeliveryState.superseded
        assert store.withdraw("N-1", "撤回", 310.0).channels == ["a"]
        assert verify(store).ok
    finally:
        store.close()


def test_a_version_12_ledger_finds_its_notices_by_text_from_the_new_index(tmp_path: Path) -> None:
    path = tmp_path / "v12.db"
    ledger_at(path, 12)
    store = SqliteStore(path)
    try:
        assert store.schema_found == 12
        v2 = NoticeRecord(
            "N-1", 2, "construction", "tender", "441600", "东环路改造工程", "d2",
            '{"project_code": "HYZB-0002"}', 300, 0,
        )  # fmt: skip
        store.accept(v2, ["a"], 300.0)
        for text, versions in [("T", [1]), ("环路改造", [2]), ("hyzb-0002", [2]), ("东环", [2])]:
            found = store.notice_page(NoticeFilter(text=text), None, 10)
            assert [n.version for n in found] == versions, text
        db = sqlite3.connect(path)
        assert db.execute("INSERT INTO notice_text (notice_text) VALUES ('integrity-check')")
        db.close()
    finally:
        store.close()


def test_a_version_13_ledger_stops_counting_set_aside_publications_as_due(
    tmp_path: Path,
) -> None:
    """Version 13 kept a superseded or cancelled publication in the year's routed (应发)."""
    path = tmp_path / "v13.db"
    store = SqliteStore(path)
    store.accept(NoticeRecord("N-1", 1, "construction", "tender", "441600", "T", "d1", "{}", 100, 0), ["a", "b"], 100.0)  # fmt: skip
    store.accept(NoticeRecord("N-2", 1, "construction", "tender", "441600", "U", "d2", "{}", 100, 0), ["a"], 100.0)  # fmt: skip
    for claim in store.claim("w", 101.0, 30, 10, channel="a"):
        store.record(claim, "w", ok(101.0), Next(DeliveryState.delivered))
    store.accept(NoticeRecord("N-1", 2, "construction", "tender", "441600", "T", "d3", "{}", 100, 0), ["a"], 102.0)  # fmt: skip
    store.withdraw("N-2", "撤回", 103.0)
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    # As version 13 counted: N-1 v1 on b (superseded) still due.
    db.execute("UPDATE tallies SET routed = routed + 1 WHERE channel = 'b'")
    db.execute("UPDATE meta SET value = '13' WHERE key = 'schema_version'")
    db.close()
    store = SqliteStore(path)
    try:
        assert store.schema_found == 13
        routed = {ch: n for (_, ch), n in store.year_counts(1970).routed.items() if ch}
        assert routed == {"a": 3, "b": 1}  # N-1 v1 and v2, N-2 on a; N-1 v2 alone on b
    finally:
        store.close()
