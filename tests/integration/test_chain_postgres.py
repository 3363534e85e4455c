"""The hash chain's SQL on a real PostgreSQL: writers on many connections chained in commit order.

The chain's logic is backend-neutral (syndicate.store.chaining); this holds
PostgreSQL's named queries (store/postgres_chain.sql) and its migration to it:
four writers at once, each in its own transaction, queue on the head row, and
the chain they leave verifies link by link.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from syndicate.audit import events as E
from syndicate.audit.chain import Walk
from syndicate.store import chaining, migrate, sql

pytestmark = pytest.mark.integration

SERVER = os.environ.get("SYNDICATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
Q = sql.load("postgres_chain.sql")


class Tx:
    """psycopg running the chain's named queries (what the PostgreSQL store's Tx does)."""

    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self.cur = cur

    def rows(self, name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        self.cur.execute(Q[name], params or {})
        return list(self.cur.fetchall()) if self.cur.description else []

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None:
        if params:
            self.cur.executemany(Q[name], params)


@pytest.fixture
def database() -> Iterator[str]:
    try:
        admin = psycopg.connect(SERVER, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {SERVER} (scripts/test starts it): {exc}")
    name = f"syndicate_chain_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    dsn = SERVER.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(dsn) as conn:
            for m in migrate.migrations("postgresql"):
                conn.execute(m.sql)
        yield dsn
    finally:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def accept(dsn: str, prefix: str, count: int) -> None:
    """Accept ``count`` notices with two deliveries each, one transaction per notice."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        for i in range(count):
            with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
                cur.execute(
                    "INSERT INTO notices (id, version, category, notice_type, region_code, title,"
                    " digest, content, publish_at, publish_day, accepted_at)"
                    " VALUES (%s, 1, 'construction', 'tender', '441600', '标题', 'd', '{}', 1.5,"
                    " '1970-01-01', 2.25) RETURNING pk, id, version, category, notice_type,"
                    " region_code, title, digest, content, publish_at, accepted_at",
                    (f"{prefix}-{i}",),
                )
                notice = cur.fetchone()
                assert notice is not None
                events = [E.notice_accepted(notice, 2.25)]
                for channel in ("a", "b"):
                    cur.execute(
                        "INSERT INTO deliveries (notice_pk, channel, idempotency_key, state,"
                        " next_attempt_at, updated_at) VALUES (%s, %s, %s, 'pending', 0, 0)"
                        " RETURNING id, notice_pk, channel, idempotency_key, state, attempts,"
                        " remote_id, remote_url, last_error",
                        (notice["pk"], channel, f"{prefix}-{i}.v1.{channel}"),
                    )
                    delivery = cur.fetchone()
                    assert delivery is not None
                    events.append(E.delivery_created(delivery, 2.25))
                chaining.append(Tx(cur), events)


def test_concurrent_writers_are_chained_in_commit_order(database: str) -> None:
    writers = [
        threading.Thread(target=accept, args=(database, p, 25)) for p in ("w", "x", "y", "z")
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    with psycopg.connect(database) as conn, conn.cursor(row_factory=dict_row) as cur:
        tx = Tx(cur)
        head = chaining.head(tx)
        walk = Walk(head)
        links = chaining.links(tx, 0, 10_000)
        assert walk.feed(links)
        assert walk.finish() is None
        assert head.seq == len(links) == 4 * 25 * 3
        # Each notice's three links are consecutive: one transaction held the head throughout.
        kinds = [link.kind for link in links]
        assert kinds == ["notice", "delivery", "delivery"] * 100
        last = chaining.last_states(tx, 0, 1000)
        assert [link.delivery for link in last] == list(range(1, 201))
        assert len(chaining.ledger_rows(tx, "notices", 0, 1000)) == 100


def test_the_chain_refuses_changes_and_archived_attempts_may_leave(database: str) -> None:
    accept(database, "n", 1)
    with psycopg.connect(database) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE chain SET body = '{}' WHERE seq = 1")
        conn.rollback()
        conn.execute(
            "INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at,"
            " outcome) VALUES (1, 1, 'w', 1, 3.0, 4.0, 'delivered')"
        )
        conn.execute("UPDATE deliveries SET state = 'delivered' WHERE id = 1")
        conn.commit()
        with conn.cursor(row_factory=dict_row) as cur:
            tx = Tx(cur)
            rows = chaining.archivable(tx, 10.0, 0, 100)
            assert [r["id"] for r in rows] == [1]
            head = chaining.archive(tx, [1], {"archive": {"attempts": 1}}, 5.0)
            assert head.seq == 4
        conn.commit()
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone() == (0,)
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute(
                "INSERT INTO attempts (delivery_id, number, worker, fence, started_at,"
                " finished_at, outcome) VALUES (1, 2, 'w', 1, 3.0, 4.0, 'delivered');"
                " DELETE FROM attempts"
            )
