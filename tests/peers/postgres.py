"""PostgreSQL as a peer: a fresh database per test, made from a migrated template.

The server is the one on 127.0.0.1:5432 (trust auth) unless
``SYNDICATE_TEST_PG`` names another admin URL. It must be there: a missing
server fails the tests that need it, with what to do, never skips them.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from syndicate.store.postgres import PostgresStore

ADMIN_URL = os.environ.get("SYNDICATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def db_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


class PgServer:
    """Creates and drops this test run's databases."""

    def __init__(self) -> None:
        self.prefix = f"syndicate_test_{uuid.uuid4().hex[:8]}"
        self._n = itertools.count()
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []

    def admin(self, statement: str) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def create_template(self) -> None:
        self.admin(f'CREATE DATABASE "{self.template}"')
        self.created.append(self.template)
        PostgresStore(db_url(self.template)).close()  # migrated once, copied per test

    def fresh(self) -> str:
        name = f"{self.prefix}_{next(self._n)}"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        return db_url(name)

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {ADMIN_URL} ({str(exc).strip().splitlines()[-1]}); "
            "scripts/test starts it when it is installed (apt-get install postgresql-15), "
            "or set SYNDICATE_TEST_PG to an admin URL",
            pytrace=False,
        )
    server = PgServer()
    server.create_template()
    yield server
    server.drop_all()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, migrated, empty ledger database."""
    url = pg_server.fresh()
    yield url
    pg_server.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty ledger on each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """What a test's channels.yaml says under ``store: url:``, on each backend in turn."""
    if request.param == "sqlite":
        return "ledger.db"
    url: str = request.getfixturevalue("pg_url")
    return url


def on_backend(text: str, ledger_url: str) -> str:
    """A channels.yaml whose ``store: {url: ledger.db}`` is moved to ``ledger_url``."""
    if ledger_url == "ledger.db":
        return text
    moved = text.replace("{url: ledger.db}", f'{{url: "{ledger_url}"}}')
    assert moved != text, "this config does not say store: {url: ledger.db}"
    return moved
