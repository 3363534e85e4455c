"""The PostgreSQL ledger: many workers on many hosts sharing one ledger.

psycopg 3 with a connection pool. Claims take rows with ``FOR UPDATE SKIP
LOCKED`` under a lease and a fencing token; an expired lease is taken back
by the same claim query. A channel's limits are counted under a row lock of
that channel, so they hold across workers. LISTEN/NOTIFY wakes idle workers
early; it is only a hint — workers poll as well, so a lost notification
delays work by at most a poll, and ``notify=False`` (servers without
LISTEN/NOTIFY) polls alone.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import LedgerUnreachable, StoreError
from . import migrate, sql
from .rows import Row
from .sqlstore import SqlStore, Tx
from .url import parse_store_url

Q = {**sql.load("postgres_queries.sql"), **sql.load("postgres_chain.sql")}
CHANNEL = "syndicate_due"


def _query(name: str, **fmt: str) -> str:
    return Q[name].format(**fmt) if fmt else Q[name]


class _Tx:
    """A cursor running this backend's named queries."""

    def __init__(self, cur: psycopg.Cursor[dict[str, Any]]) -> None:
        self.cur = cur

    def rows(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> list[Row]:
        self.cur.execute(_query(name, **fmt), params or {})
        return list(self.cur.fetchall()) if self.cur.description else []

    def run(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> int:
        self.cur.execute(_query(name, **fmt), params or {})
        return self.cur.rowcount

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None:
        if params:
            self.cur.executemany(_query(name), params)

    def raw(self, query: str) -> list[Row]:
        self.cur.execute(query)
        return list(self.cur.fetchall()) if self.cur.description else []

    def raw_many(self, query: str, params: Sequence[Sequence[Any]]) -> None:
        if params:
            self.cur.executemany(query, params)


class PostgresStore(SqlStore):
    """The ledger in a PostgreSQL database."""

    no_limit = None
    placeholder = "%s"

    def __init__(
        self,
        dsn: str,
        *,
        notify: bool = True,
        pool_size: int = 4,
        connect_timeout: float = 10.0,
        poll_every: float = 1.0,
        migration_patience: float = 120.0,
    ) -> None:
        self.dsn = dsn
        self.where = parse_store_url(dsn).redacted()
        self.notify = notify
        self.poll_every = poll_every
        self.migration_patience = migration_patience
        self._connect_timeout = connect_timeout
        self._migrate()
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"row_factory": dict_row, "connect_timeout": int(connect_timeout)},
            check=ConnectionPool.check_connection,
            open=False,
            name="syndicate",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            raise LedgerUnreachable(f"cannot reach the ledger {self.where}") from None
        self._listen: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        self._last_poll = time.monotonic()

    # --- plumbing ------------------------------------------------------------

    def _problem(self, exc: psycopg.Error) -> StoreError:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = LedgerUnreachable if _unreachable(exc) else StoreError
        return kind(f"the ledger {self.where}: {text}")

    def _connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(
                self.dsn, connect_timeout=int(self._connect_timeout), row_factory=dict_row, **kwargs
            )
        except psycopg.Error as exc:
            kind = LedgerUnreachable if _unreachable(exc) else StoreError
            raise kind(f"cannot open the ledger {self.where}: {_reason(exc)}") from None

    def _migrate(self) -> None:
        """Bring the database to this code's schema, one transaction per version, one
        process at a time (an advisory lock), so workers starting together migrate once.

        A migration may alter tables that running workers write to. Waiting for their
        locks behind an ``ALTER TABLE`` would stall every writer queued after it, and
        can deadlock against a writer's transaction; so a version gives up after 2 s
        (the ``migration_lock_wait`` query) and tries again a moment later, for up to
        ``migration_patience`` seconds in all."""
        deadline = time.monotonic() + self.migration_patience
        # Autocommit: each version is a transaction of its own, whose locks are let go
        # when it ends, and not a savepoint in one long transaction holding them all.
        with self._connect(autocommit=True) as conn:
            try:
                self.schema_found = self._version(conn)
                for migration in migrate.pending("postgresql", self.schema_found, self.where):
                    while True:
                        try:
                            self._apply(conn, migration)
                            break
                        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                            if time.monotonic() >= deadline:
                                raise StoreError(
                                    f"the ledger {self.where}: could not take the tables to "
                                    f"migrate to schema version {migration.version} in "
                                    f"{self.migration_patience:.0f} s, other processes kept "
                                    "writing; stop them, run `syndicate migrate`, start them "
                                    "again"
                                ) from None
                            time.sleep(0.2 + random.random() * 0.8)
            except psycopg.Error as exc:
                raise self._problem(exc) from None

    def _apply(self, conn: psycopg.Connection[Any], migration: migrate.Migration) -> None:
        with conn.transaction():
            conn.execute(_query("lock_migrations"))
            conn.execute(_query("migration_lock_wait"))
            if self._version(conn) < migration.version:
                conn.execute(migration.sql)
                with conn.cursor(row_factory=dict_row) as cur:
                    migrate.then(migration.version, _Tx(cur), time.time())
                conn.execute(_query("set_schema_version"), {"version": str(migration.version)})

    def _version(self, conn: psycopg.Connection[Any]) -> int:
        if conn.execute(_query("has_meta")).fetchone() is None:
            return 0
        row = conn.execute(_query("schema_version")).fetchone()
        return int(row["value"]) if row else 0

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        try:
            with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor(row_factory=dict_row) as cur,
            ):
                yield _Tx(cur)
        except psycopg.Error as exc:
            raise self._problem(exc) from None
        except PoolTimeout:
            raise LedgerUnreachable(f"cannot reach the ledger {self.where}") from None

    _reading = _write

    def _fragment(self, name: str) -> str:
        return Q[name]

    def _where(self, conditions: Sequence[str]) -> str:
        return " AND ".join(Q[c] for c in conditions) if conditions else "TRUE"

    def _try_lock_channel(self, tx: Tx, channel: str) -> bool:
        if tx.rows("try_lock_channel", {"channel": channel}):
            return True
        return bool(tx.rows("add_channel_row", {"channel": channel}))

    def _notify(self, tx: Tx) -> None:
        if self.notify:
            tx.rows("notify_due")

    def after_copy(self) -> None:
        with self._write() as tx:
            tx.rows("reset_sequences")

    # --- the wake-up hook ------------------------------------------------------

    def changed(self) -> bool:
        """A notification came, or a poll is due (NOTIFY is a hint, never the only way)."""
        now = time.monotonic()
        if now - self._last_poll >= self.poll_every:
            self._last_poll = now
            return True
        if not self.notify:
            return False
        with self._listen_lock:
            try:
                if self._listen is None or self._listen.closed:
                    self._listen = self._connect(autocommit=True)
                    self._listen.execute(f"LISTEN {CHANNEL}")
                    return True  # anything sent while we were not listening
                if any(True for _ in self._listen.notifies(timeout=0)):
                    self._last_poll = now
                    return True
            except (psycopg.Error, StoreError):
                if self._listen is not None:
                    self._listen.close()
                self._listen = None
                return True
        return False

    def close(self) -> None:
        with self._listen_lock:
            if self._listen is not None:
                self._listen.close()
                self._listen = None
        self._pool.close()


# What a server says when it will not let this client in at all; anything else at
# connect time (refused, timed out, starting up, shutting down, too many clients) passes.
_REFUSALS = ("does not exist", "authentication failed", "no pg_hba.conf entry", "permission denied")


def _unreachable(exc: psycopg.Error) -> bool:
    """The server is down, starting or going away: asking again later can help."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    if exc.sqlstate is not None:  # the server answered: a broken connection or a shutdown
        return exc.sqlstate.startswith(("08", "57P"))
    return not any(refusal in str(exc) for refusal in _REFUSALS)


def _reason(exc: psycopg.Error) -> str:
    text = str(exc).strip()
    # libpq repeats the attempt per address, each line "… failed: why", then maybe a hint.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    failed = [ln for ln in lines if "failed: " in ln]
    if failed:
        return failed[-1].rpartition("failed: ")[2].removeprefix("FATAL:").strip()
    return lines[-1] if lines else type(exc).__name__
