"""The embedded SQLite ledger (WAL): the default store, one file, many readers.

Writers take ``BEGIN IMMEDIATE`` so a claim or a result is decided under the
write lock, never upgraded half-way. ``synchronous=FULL``: when enqueue
returns, the notice is on disk, even if the power fails next.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..safefile import create_private
from . import migrate, sql
from .base import AttemptRecord, Claim, DeliveryState, Gate, Next, Recorded
from .rows import Row
from .sqlstore import SqlStore, Tx

Q = sql.load("sqlite_queries.sql")
_TRIGRAM = 3  # characters: the shortest text the trigram index can look up
_NO_CURSOR = 2**63 - 1


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the ledger is locked by another process; try again when it is released"
    if "disk is full" in text or "full" in text:
        return "the ledger's disk is full"
    if "readonly" in text:
        return "the ledger is read-only"
    return text


class _Tx:
    """A connection running this backend's named queries."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def rows(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> list[Row]:
        query = Q[name].format(**fmt) if fmt else Q[name]
        return self.db.execute(query, params or {}).fetchall()

    def run(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> int:
        query = Q[name].format(**fmt) if fmt else Q[name]
        return self.db.execute(query, params or {}).rowcount

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None:
        self.db.executemany(Q[name], params)

    def raw(self, query: str) -> list[Row]:
        return self.db.execute(query).fetchall()

    def raw_many(self, query: str, params: Sequence[Sequence[Any]]) -> None:
        self.db.executemany(query, params)


def _statements(script: str) -> Iterator[str]:
    """The statements of ``script`` one by one (a trigger's body stays whole)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()
    ):
        raise StoreError(f"an unfinished statement at the end of a migration: {buffer[:60]!r}")


def _writers_queue(path: Path) -> int | None:
    """The file every process's writers of one ledger queue on; None where it cannot be had
    (a read-only folder): SQLite's own wait for its lock is then the only one."""
    try:
        create_private(path)
        return os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None


class SqliteStore(SqlStore):
    """The ledger in one SQLite file."""

    no_limit = -1
    text_chunk = 200  # candidates the text index names in its first look

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._queue: int | None = None
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the ledger folder {parent}: {exc.strerror}"
                ) from None
            try:
                # Owner-only; SQLite gives its -wal and -shm files the same mode.
                create_private(Path(self.path))
            except OSError as exc:
                raise StoreError(f"cannot create the ledger {self.path}: {exc.strerror}") from None
            self._queue = _writers_queue(Path(self.path + "-writers"))
        # Two connections: in WAL mode a reader never waits for a writer's fsync.
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        try:
            self._db = self._connect(busy_timeout)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._rdb = self._connect(busy_timeout)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the ledger {self.path}: {_describe(exc)}") from None
        self._data_version = self._pragma_data_version()

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        return db

    # --- plumbing ------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the ledger to this code's schema version, one transaction per version."""
        db = self._db
        self.schema_found = self._schema_version()
        pending = migrate.pending("sqlite", self.schema_found, self.path)
        if not pending:
            return
        # A migration may build a table anew that others refer to (SQLite's way to change a
        # constraint): references are checked once, before it commits, not row by row.
        db.execute("PRAGMA foreign_keys=OFF")
        try:
            for migration in pending:
                self._apply(migration)
        finally:
            db.execute("PRAGMA foreign_keys=ON")

    def _apply(self, migration: migrate.Migration) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if self._schema_version() < migration.version:
                for statement in _statements(migration.sql):
                    db.execute(statement)
                migrate.then(migration.version, _Tx(db), time.time())
                broken = db.execute(Q["foreign_key_check"]).fetchone()
                if broken is not None:
                    raise StoreError(
                        f"migration {migration.version} would leave a {broken[0]} row "
                        f"referring to a missing {broken[2]} row; the ledger is left as it was"
                    )
                db.execute(Q["set_schema_version"], {"version": str(migration.version)})
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _schema_version(self) -> int:
        if not self._db.execute(Q["has_meta"]).fetchone():
            return 0
        row = self._db.execute(Q["schema_version"]).fetchone()
        return int(row["value"]) if row else 0

    @contextmanager
    def _write(self) -> Iterator[Tx]:
        with self._lock, self._in_queue():
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None
            try:
                yield _Tx(self._db)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(_describe(exc)) from None
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def _in_queue(self) -> Iterator[None]:
        """Wait for the other processes' writers in the kernel, woken as soon as one is done.

        SQLite's own wait for its write lock sleeps and looks again (1, 2, 5 … 100 ms):
        two busy worker processes spent seconds asleep there with the lock free. The
        busy timeout still bounds a wait on a writer that does not queue here (another
        program), and the lock goes with a process that dies.
        """
        queue = self._queue
        if queue is None:
            yield
            return
        try:
            fcntl.flock(queue, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: SQLite's own wait alone
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(queue, fcntl.LOCK_UN)

    @contextmanager
    def _reading(self) -> Iterator[Tx]:
        with self._read_lock:
            try:
                yield _Tx(self._rdb)
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None

    def _where(self, conditions: Sequence[str]) -> str:
        return " AND ".join(Q[c] for c in conditions) if conditions else "1 = 1"

    def _fragment(self, name: str) -> str:
        return Q[name]

    def _states_param(self, states: Sequence[DeliveryState]) -> Any:
        return json.dumps([s.value for s in states])

    def _lock_channel(self, tx: Tx, channel: str) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock

    def _lock_notice(self, tx: Tx, notice_id: str) -> None:
        pass  # BEGIN IMMEDIATE already holds the only write lock

    def _channels_param(self, channels: Sequence[str]) -> dict[str, Any]:
        return {"channel_list": json.dumps(list(channels))}

    def _take(self, tx: Tx, channel: str | None, params: Mapping[str, Any]) -> list[Row]:
        # SQLite's RETURNING cannot join the notice: choose, then lease, under the write lock.
        where = self._where([] if channel is None else ["filter_channel"])
        taken = tx.rows("due_deliveries", params, where=where)
        tx.many("take_lease", [{**params, "delivery_id": r["delivery_id"]} for r in taken])
        return taken

    def _text_indexed(self, text: str) -> bool:
        # A trigram index looks up three characters or more; a shorter text is read for.
        return len(text) >= _TRIGRAM

    def _text_page(
        self, tx: Tx, text: str, params: dict[str, Any], where: str, having: str
    ) -> list[Row]:
        # The index names candidates newest first, a chunk at a time (each twice the last):
        # a text most notices contain fills the page from the first chunk, a rare one is
        # found whole, and neither reads every notice nor every candidate.
        where = f"{where} AND {Q['filter_text_candidates']}"
        phrase = '"' + text.replace('"', '""') + '"'  # one FTS5 phrase, as written
        below = params["cursor"] if params["cursor"] is not None else _NO_CURSOR
        limit, chunk = int(params["limit"]), self.text_chunk
        page: list[Row] = []
        while len(page) < limit:
            pks = [
                int(r["pk"])
                for r in tx.rows(
                    "text_candidates", {"text_phrase": phrase, "below": below, "chunk": chunk}
                )
            ]
            if not pks:
                break
            found = tx.rows(
                "notice_page",
                {**params, "text_pks": json.dumps(pks), "limit": limit - len(page)},
                where=where,
                having=having,
            )
            page += found
            if len(pks) < chunk:
                break
            below, chunk = pks[-1], chunk * 2
        return page

    def record_and_claim(
        self,
        worker: str,
        results: Sequence[tuple[Claim, AttemptRecord, Next]],
        now: float,
        lease: float,
        limits: Mapping[str | None, int],
        gates: Mapping[str, Gate] | None = None,
    ) -> tuple[Recorded, list[Claim]]:
        # One writer at a time holds the whole file: nothing can wait on this transaction in
        # a circle, so the claims ride on the results' commit instead of paying their own.
        # (PostgreSQL keeps two: its row locks would be taken out of every writer's order.)
        with self._write() as tx:
            recorded = self._record_in(tx, worker, results)
            claims = self._claim_in(tx, worker, now, lease, limits, gates or {}) if limits else []
        return recorded, claims

    def _pragma_data_version(self) -> int:
        with self._read_lock:
            return int(self._rdb.execute(Q["data_version"]).fetchone()[0])

    def changed(self) -> bool:
        version = self._pragma_data_version()
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    def _read(self, query: str, params: Mapping[str, Any] | None = None) -> list[sqlite3.Row]:
        """Raw SQL, for checks and tools that look under the interface."""
        with self._reading():
            return self._rdb.execute(query, params or {}).fetchall()

    def integrity_check(self) -> str:
        return str(self._read(Q["integrity_check"])[0][0])

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._rdb.close()
            self._db.close()
            if self._queue is not None:
                os.close(self._queue)
                self._queue = None
