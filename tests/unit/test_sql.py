"""Named SQL files and the store URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.errors import StoreError
from syndicate.store import sql
from syndicate.store.url import parse_store_url


def test_named_queries_are_split_on_their_headers() -> None:
    text = "-- a comment on the file\n-- name: one\nSELECT 1;\n\n-- name: two\n-- why\nSELECT\n 2\n"
    assert sql.parse(text) == {"one": "SELECT 1", "two": "-- why\nSELECT\n 2"}


def test_a_query_named_twice_or_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="'one' is defined twice"):
        sql.parse("-- name: one\nSELECT 1\n-- name: one\nSELECT 2\n", "q.sql")
    with pytest.raises(ValueError, match="'two' is empty"):
        sql.parse("-- name: one\nSELECT 1\n-- name: two\n\n", "q.sql")


def test_every_backend_file_loads() -> None:
    queries = sql.load("sqlite_queries.sql")
    assert "finish_delivery" in queries
    assert all(q.strip() for q in queries.values())


def test_store_urls() -> None:
    assert parse_store_url("sqlite:///var/l.db", Path("/srv")).path == "/srv/var/l.db"
    assert parse_store_url("sqlite:////abs/l.db", Path("/srv")).path == "/abs/l.db"
    assert parse_store_url("l.db", Path("/srv")).path == "/srv/l.db"
    assert parse_store_url("sqlite:///:memory:", Path("/srv")).path == ":memory:"
    pg = parse_store_url("postgresql://app:secret@db1:5432/ledger")
    assert (pg.scheme, pg.dsn) == ("postgresql", "postgresql://app:secret@db1:5432/ledger")
    assert pg.redacted() == "postgresql://app:***@db1:5432/ledger"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x/y", "unsupported store URL scheme 'mysql'"),
        ("sqlite:///", "has no file path"),
        ("postgresql://", "names neither a host nor a database"),
    ],
)
def test_bad_store_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        parse_store_url(url)
