"""A PostgreSQL ledger of the previous schema version, with data in it, upgraded in place."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest

from syndicate.errors import LedgerVersionError, StoreError
from syndicate.store import migrate
from syndicate.store.base import SCHEMA_VERSION, AttemptFilter, DeliveryState, Next
from syndicate.store.postgres import PostgresStore
from tests.peers.postgres import PgServer, db_url
from tests.unit.test_store import ok, record

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_db(pg_server: PgServer) -> str:
    name = f"{pg_server.prefix}_empty_{uuid.uuid4().hex[:8]}"
    pg_server.admin(f'CREATE DATABASE "{name}"')
    pg_server.created.append(name)
    return db_url(name)


def previous_version_with_data(url: str) -> None:
    """The schema as the version before this one left it, and a notice half delivered."""
    with psycopg.connect(url) as conn:
        for m in migrate.migrations("postgresql")[: SCHEMA_VERSION - 1]:
            conn.execute(m.sql)  # type: ignore[arg-type]
        conn.execute("INSERT INTO meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION - 1),))
        conn.execute(
            """
            INSERT INTO notices (pk, id, version, category, notice_type, region_code, title,
                                 digest, content, publish_at, publish_day, accepted_at)
            VALUES (1, 'N-1', 1, 'construction', 'tender', '441600', 'T', 'd1', '{}', 100.0,
                    '1970-01-01', 100.0);
            INSERT INTO deliveries (id, notice_pk, channel, idempotency_key, state, attempts,
                                    tries, next_attempt_at, fence, updated_at)
            VALUES (1, 1, 'a', 'N-1.v1.a', 'delivered', 1, 1, 101.0, 1, 101.0),
                   (2, 1, 'b', 'N-1.v1.b', 'pending', 0, 0, 100.0, 0, 100.0);
            INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at,
                                  outcome)
            VALUES (1, 1, 'w', 1, 100.5, 101.0, 'delivered');
            INSERT INTO tallies VALUES ('1970-01-01', 'construction', '', 1, 0),
                ('1970-01-01', 'construction', 'a', 1, 1), ('1970-01-01', 'construction', 'b', 1, 0);
            SELECT setval(pg_get_serial_sequence('notices', 'pk'), 1);
            SELECT setval(pg_get_serial_sequence('deliveries', 'id'), 2);
            """
        )


def test_the_previous_version_is_upgraded_with_its_data(empty_db: str) -> None:
    previous_version_with_data(empty_db)
    store = PostgresStore(empty_db)
    try:
        assert (store.schema_found, store.schema_version) == (SCHEMA_VERSION - 1, SCHEMA_VERSION)
        assert [(d.channel, d.state) for d in store.deliveries()] == [
            ("a", DeliveryState.delivered),
            ("b", DeliveryState.pending),
        ]
        assert [a.number for a in store.attempts(AttemptFilter())] == [1]
        (claim,) = store.claim("w2", 300.0, 30, 10)
        store.record(claim, "w2", ok(301.0), Next(DeliveryState.delivered))
        assert store.year_counts(1970).delivered == {
            ("construction", "a"): 1,
            ("construction", "b"): 1,
        }
        store.accept(record("N-2"), ["a"], 400.0)  # new rows after the old ones
    finally:
        store.close()
    again = PostgresStore(empty_db)
    assert again.schema_found == SCHEMA_VERSION
    again.close()


def test_a_newer_ledger_is_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerVersionError, match=r"schema version 99, newer than"):
        PostgresStore(pg_url)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert row == ("99",)


def test_a_migration_gives_way_to_writers_then_goes_on(empty_db: str) -> None:
    """A worker of the old version mid-transaction holds rows (or the table) the migration
    changes: the migration gives up its wait instead of queueing every writer
    behind it (or deadlocking with one), says so when it runs out of patience, and is
    applied once the writer is done."""
    previous_version_with_data(empty_db)
    with psycopg.connect(empty_db) as writer:
        # Whatever the newest migration changes (alters a table, updates rows, indexes a
        # column), this holds it up, as a writer holding what the migration needs would.
        writer.execute("LOCK TABLE notices, deliveries, attempts, tallies, chain IN EXCLUSIVE MODE")
        with pytest.raises(StoreError, match=r"could not take the tables to migrate"):
            PostgresStore(empty_db, migration_patience=0.5)
        with psycopg.connect(empty_db) as other:  # the migration let go of what it held
            other.execute("SET lock_timeout = '5s'")
            other.execute("SELECT * FROM meta FOR UPDATE")
        opened: list[PostgresStore] = []
        thread = threading.Thread(target=lambda: opened.append(PostgresStore(empty_db)))
        thread.start()
        try:
            while not _migration_waited(empty_db):
                assert thread.is_alive()
                time.sleep(0.05)
        finally:
            writer.commit()
        thread.join()
    (store,) = opened
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert [d.state for d in store.deliveries()] == [
            DeliveryState.delivered,
            DeliveryState.pending,
        ]
    finally:
        store.close()


def _migration_waited(url: str) -> bool:
    """Whether a session is (or was just) waiting on a table lock to migrate."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])
