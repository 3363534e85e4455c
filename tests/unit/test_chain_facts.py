"""The ledger's other facts in the chain: notice warnings, API operations, tokens, channel pauses.

Each is written on both backends, then edited, deleted or inserted with raw SQL
behind syndicate's back; ``verify`` must name the table, the row and the chain
row where it shows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from syndicate.audit.verify import Verification, verify
from syndicate.store import migrate, open_store
from syndicate.store.base import SCHEMA_VERSION, TokenRecord
from syndicate.store.sqlite import SqliteStore, _statements, _Tx

from .test_store import record

APPEND_ONLY = ("notice_warnings", "operations")


@pytest.fixture
def ledger(store_url: str) -> str:
    """Links: notice 1, warnings 2-3, delivery 4, operation 5, tokens 6-8, pauses 9-11, op 12."""
    return write_facts(store_url)


def write_facts(store_url: str) -> str:
    store = open_store(store_url)
    try:
        notice = replace(record("N-1"), warnings=(("r.sale", "发售期不足"), ("r.open", "开标地点")))
        store.accept(notice, ["a"], 100.0, by="token:ops")
        store.add_token(TokenRecord("t1", "ops", ("read", "write"), "f" * 64, 110.0))
        store.add_token(TokenRecord("t2", "feed", ("read",), "e" * 64, 111.0))
        assert store.revoke_token("feed", 120.0) == 1
        assert store.set_paused("a", True, 130.0, by="ops")
        assert store.set_paused("b", True, 131.0)
        assert store.set_paused("b", False, 132.0)
        store.record_operation(133.0, "token:ops", "pause", "a")
    finally:
        store.close()
    return store_url


def raw(url: str, script: str) -> None:
    """Tamper as an insider with the database would: append-only triggers disabled first."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        drops = "".join(
            f"DROP TRIGGER {t}_no_{op};" for t in APPEND_ONLY for op in ("update", "delete")
        )
        db.executescript(drops + script)
        db.close()
        return
    with psycopg.connect(url, autocommit=True) as conn:
        for table in APPEND_ONLY:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")  # type: ignore[arg-type]
        conn.execute(script)  # type: ignore[arg-type]


def check(url: str) -> Verification:
    store = open_store(url)
    try:
        return verify(store)
    finally:
        store.close()


def test_the_facts_are_chained_and_verify(ledger: str) -> None:
    result = check(ledger)
    assert result.ok, result.findings
    store = open_store(ledger)
    try:
        kinds = [link.kind for link in store.chain_links(0, 100)]
    finally:
        store.close()
    assert kinds == [
        "notice", "warning", "warning", "delivery", "operation",
        "token", "token", "token", "pause", "pause", "pause", "operation",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "UPDATE notice_warnings SET message = '无' WHERE id = 2",
            (3, "notice_warnings", 2, "edited"),
        ),
        ("DELETE FROM notice_warnings WHERE id = 1", (2, "notice_warnings", 1, "deleted")),
        (
            "INSERT INTO notice_warnings (notice_pk, rule, message) VALUES (1, 'r.x', 'x')",
            (None, "notice_warnings", 3, "inserted"),
        ),
        ("UPDATE operations SET actor = 'token:x' WHERE id = 1", (5, "operations", 1, "edited")),
        ("DELETE FROM operations WHERE id = 2", (12, "operations", 2, "deleted")),
        (
            "INSERT INTO operations (at, actor, action, subject) VALUES (1, 'x', 'replay', 'y')",
            (None, "operations", 3, "inserted"),
        ),
        (
            "UPDATE tokens SET scopes = 'read write admin' WHERE id = 't1'",
            (6, "tokens", 1, "edited"),
        ),
        ("UPDATE tokens SET revoked_at = NULL WHERE id = 't2'", (8, "tokens", 3, "edited")),
        ("DELETE FROM tokens WHERE id = 't1'", (6, "tokens", 1, "deleted")),
        (
            "INSERT INTO tokens (id, name, scopes, secret_sha256, created_at)"
            " VALUES ('t3', 'back', 'admin', 'x', 1)",
            (None, "tokens", None, "inserted"),
        ),
        ("UPDATE pauses SET paused_by = 'x' WHERE channel = 'a'", (9, "pauses", 1, "edited")),
        ("DELETE FROM pauses WHERE channel = 'a'", (9, "pauses", 1, "deleted")),
        (
            "INSERT INTO pauses (channel, paused_at, paused_by) VALUES ('b', 140, NULL)",
            (11, "pauses", 3, "inserted"),
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_changed_fact_is_caught_at_its_link(
    tmp_path: Path, script: str, expected: tuple[int | None, str, int | None, str]
) -> None:
    ledger = write_facts(f"sqlite:///{tmp_path / 'ledger.db'}")
    raw(ledger, script)
    result = check(ledger)
    assert not result.ok, "tampering went unnoticed"
    f = result.findings[0]
    assert (f.seq, f.table, f.ref, f.change) == expected, f.message


def test_each_kind_of_change_is_caught_on_postgresql_too(pg_url: str) -> None:
    """One ledger, changed and checked in turn (the full table runs on SQLite above)."""
    ledger = write_facts(pg_url)
    steps = [
        ("UPDATE operations SET actor = 'token:x' WHERE id = 1", (5, "operations", 1, "edited")),
        ("UPDATE operations SET actor = 'token:ops' WHERE id = 1", None),
        ("DELETE FROM notice_warnings WHERE id = 1", (2, "notice_warnings", 1, "deleted")),
        (
            "INSERT INTO notice_warnings (id, notice_pk, rule, message)"
            " VALUES (1, 1, 'r.sale', '发售期不足')",
            None,
        ),
        ("UPDATE tokens SET revoked_at = NULL WHERE id = 't2'", (8, "tokens", 3, "edited")),
        ("UPDATE tokens SET revoked_at = 120 WHERE id = 't2'", None),
        (
            "INSERT INTO pauses (channel, paused_at, paused_by) VALUES ('b', 140, NULL)",
            (11, "pauses", 3, "inserted"),
        ),
    ]
    for script, expected in steps:
        raw(ledger, script)
        result = check(ledger)
        if expected is None:
            assert result.ok, (script, result.findings)
            continue
        f = result.findings[0]
        assert (f.seq, f.table, f.ref, f.change) == expected, f.message


def test_warnings_and_operations_refuse_changes(ledger: str) -> None:
    if not ledger.startswith("sqlite"):
        with psycopg.connect(ledger, autocommit=True) as conn:
            for statement in (
                "UPDATE operations SET actor = 'x'",
                "DELETE FROM notice_warnings",
            ):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(statement)  # type: ignore[arg-type]
        return
    db = sqlite3.connect(ledger.removeprefix("sqlite:///"), isolation_level=None)
    for statement in ("UPDATE operations SET actor = 'x'", "DELETE FROM notice_warnings"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.close()


def test_a_version_9_ledger_has_its_facts_chained_as_they_stand(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    for m in migrate.migrations("sqlite")[:9]:
        db.execute("BEGIN")
        for statement in _statements(m.sql):
            db.execute(statement)
        migrate.then(m.version, _Tx(db), 50.0)
        db.execute("COMMIT")
    db.executescript(
        """
        INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '9');
        INSERT INTO notices (pk, id, version, category, notice_type, region_code, title,
            digest, content, publish_at, publish_day, accepted_at)
        VALUES (1, 'N-1', 1, 'construction', 'tender', '441600', 'T',
            'd1', '{}', 100.0, '1970-01-01', 100.0);
        INSERT INTO notice_warnings (notice_pk, rule, message) VALUES (1, 'r.sale', '不足');
        INSERT INTO tokens VALUES ('t1', 'ops', 'read write', 'f', 110.0, 120.0);
        INSERT INTO operations (at, actor, action, subject) VALUES (121.0, 'token:ops', 'x', 'y');
        INSERT INTO pauses VALUES ('a', 130.0, 'ops');
        """
    )
    db.close()
    store = SqliteStore(path)
    try:
        assert (store.schema_found, store.schema_version) == (9, SCHEMA_VERSION)
        kinds = [link.kind for link in store.chain_links(0, 100)]
    finally:
        store.close()
    # The notice row was put in behind the chain's back (it was not, in version 9): the facts
    # written before version 10 are chained; everything else is held against the chain as before.
    assert kinds == ["warning", "operation", "token", "pause"]
    result = check(f"sqlite:///{path}")
    assert [(f.table, f.change) for f in result.findings] == [("notices", "inserted")]
    raw(f"sqlite:///{path}", "UPDATE tokens SET revoked_at = NULL;")
    assert ("tokens", "edited") in [
        (f.table, f.change) for f in check(f"sqlite:///{path}").findings
    ]


def test_the_last_check_of_each_delivery_is_read_in_one_query(store_url: str) -> None:
    from syndicate.audit.chain import Event

    store = open_store(store_url)
    try:
        assert store.chain_last_at("check") == {}
        store.append_to_chain(
            [Event("check", ref, {"check": {"n": n}}, at) for n, (ref, at) in
             enumerate([(1, 10.0), (2, 11.0), (1, 12.5), (2, 11.5), (7, 3.0)])]
        )  # fmt: skip
        assert store.chain_last_at("check") == {1: 12.5, 2: 11.5, 7: 3.0}
        assert store.chain_last_at("anchor") == {}
    finally:
        store.close()


def test_only_the_checks_since_a_time_are_read_for_what_is_due(store_url: str) -> None:
    from syndicate.audit.chain import Event

    store = open_store(store_url)
    try:
        assert store.last_checks(0.0) == {}
        store.append_to_chain(
            [Event("check", ref, {"check": {"n": n}}, at) for n, (ref, at) in
             enumerate([(1, 10.0), (2, 11.0), (1, 12.5), (2, 11.5), (7, 3.0)])]
        )  # fmt: skip
        store.append_to_chain([Event("anchor", 9, {"anchor": {}}, 20.0)])
        assert store.last_checks(0.0) == {1: 12.5, 2: 11.5, 7: 3.0}
        # At or after 11.5: delivery 7's check is too old to count, 2's newest is on the edge.
        assert store.last_checks(11.5) == {1: 12.5, 2: 11.5}
        assert store.last_checks(12.6) == {}
    finally:
        store.close()
