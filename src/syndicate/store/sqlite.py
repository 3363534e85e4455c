"""The embedded SQLite ledger (WAL): the default store, one file, many readers.

Writers take ``BEGIN IMMEDIATE`` so a claim or a result is decided under the
write lock, never upgraded half-way. ``synchronous=FULL``: when enqueue
returns, the notice is on disk, even if the power fails next.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import LedgerVersionError, NoticeConflict, Problem, StoreError
from ..notice import LOCAL_TZ
from .base import (
    SCHEMA_VERSION,
    AcceptResult,
    AttemptFilter,
    AttemptRecord,
    AttemptRow,
    CircuitRow,
    Claim,
    DeliveryRow,
    DeliveryState,
    Next,
    NoticeRecord,
    Outcome,
    Store,
    YearCounts,
    idempotency_key,
)

_PAGE = 1000


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the ledger is locked by another process; try again when it is released"
    if "disk is full" in text or "full" in text:
        return "the ledger's disk is full"
    if "readonly" in text:
        return "the ledger is read-only"
    return text


class SqliteStore(Store):
    """The ledger in one SQLite file."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the ledger folder {parent}: {exc.strerror}"
                ) from None
        # Two connections: in WAL mode a reader never waits for a writer's fsync.
        self._lock = threading.RLock()
        self._read_lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._rdb = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the ledger {self.path}: {_describe(exc)}") from None
        self._data_version = self._pragma_data_version()

    # --- plumbing ------------------------------------------------------------

    def _migrate(self) -> None:
        db = self._db
        has_meta = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if has_meta:
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            found = int(row[0]) if row else 0
            if found > SCHEMA_VERSION:
                raise LedgerVersionError(
                    f"the ledger {self.path} has schema version {found}, newer than this "
                    f"syndicate understands ({SCHEMA_VERSION}); upgrade syndicate"
                )
            if found == SCHEMA_VERSION:
                return
        script = files("syndicate.store").joinpath("sqlite_schema.sql").read_text("utf-8")
        # One transaction: a crash half-way leaves the old schema, never half a new one.
        try:
            db.executescript(
                f"BEGIN IMMEDIATE; {script}; "
                "INSERT INTO meta (key, value) VALUES ('schema_version', "
                f"'{SCHEMA_VERSION}') ON CONFLICT (key) DO UPDATE SET value = excluded.value; "
                "COMMIT;"
            )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(_describe(exc)) from None
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._read_lock:
            try:
                return self._rdb.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None

    def _pragma_data_version(self) -> int:
        with self._read_lock:
            return int(self._rdb.execute("PRAGMA data_version").fetchone()[0])

    # --- writes --------------------------------------------------------------

    def accept(self, notice: NoticeRecord, channels: Sequence[str], now: float) -> AcceptResult:
        with self._write() as db:
            row = db.execute(
                "SELECT pk, digest, accepted_at FROM notices WHERE id = ? AND version = ?",
                (notice.id, notice.version),
            ).fetchone()
            if row is not None:
                pk, digest, accepted_at = row
                if digest != notice.digest:
                    raise NoticeConflict(
                        [
                            Problem(
                                "",
                                f"notice {notice.id} version {notice.version} was accepted before "
                                f"with other content (digest {digest[:12]}…, now "
                                f"{notice.digest[:12]}…); send a new version instead",
                            )
                        ]
                    )
                routed = [
                    r[0]
                    for r in db.execute(
                        "SELECT channel FROM deliveries WHERE notice_pk = ? ORDER BY id", (pk,)
                    )
                ]
                return AcceptResult(False, routed, accepted_at)
            day = datetime.fromtimestamp(notice.publish_at, LOCAL_TZ).date().isoformat()
            cur = db.execute(
                "INSERT INTO notices (id, version, category, notice_type, region_code, title, "
                "digest, content, publish_at, publish_day, accepted_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    notice.id,
                    notice.version,
                    notice.category,
                    notice.notice_type,
                    notice.region_code,
                    notice.title,
                    notice.digest,
                    notice.content,
                    notice.publish_at,
                    day,
                    now,
                ),
            )
            pk = cur.lastrowid
            db.executemany(
                "INSERT INTO tallies (day, category, channel, routed) VALUES (?, ?, ?, 1) "
                "ON CONFLICT DO UPDATE SET routed = routed + 1",
                [(day, notice.category, ch) for ch in ["", *channels]],
            )
            due = max(now, notice.publish_at)
            db.executemany(
                "INSERT INTO deliveries (notice_pk, channel, idempotency_key, state, "
                "next_attempt_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                [
                    (pk, ch, idempotency_key(notice.id, notice.version, ch), due, now)
                    for ch in channels
                ],
            )
        return AcceptResult(True, list(channels), now)

    def claim_many(
        self, worker: str, now: float, lease: float, limits: Mapping[str | None, int]
    ) -> list[Claim]:
        expires = now + lease
        claims: list[Claim] = []
        with self._write() as db:
            for channel, limit in limits.items():
                if limit <= 0:
                    continue
                where = "d.state IN ('pending', 'in_flight') AND d.next_attempt_at <= ?"
                params: list[Any] = [now]
                if channel is not None:
                    where += " AND d.channel = ?"
                    params.append(channel)
                rows = db.execute(
                    "SELECT d.id, n.id, n.version, d.channel, d.idempotency_key, d.fence, "
                    "d.attempts, d.tries, d.cycle_started_at, n.digest "
                    f"FROM deliveries d JOIN notices n ON n.pk = d.notice_pk WHERE {where} "
                    "ORDER BY d.next_attempt_at LIMIT ?",
                    [*params, limit],
                ).fetchall()
                db.executemany(
                    "UPDATE deliveries SET state = 'in_flight', lease_owner = ?, "
                    "fence = fence + 1, next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    [(worker, expires, now, r[0]) for r in rows],
                )
                claims += [
                    Claim(
                        delivery_id=r[0],
                        notice_id=r[1],
                        notice_version=r[2],
                        channel=r[3],
                        idempotency_key=r[4],
                        fence=r[5] + 1,
                        notice_digest=r[9],
                        attempts=r[6],
                        tries=r[7],
                        first_try_at=r[8],
                        lease_expires_at=expires,
                    )
                    for r in rows
                ]
        return claims

    def record_many(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> list[bool]:
        recorded = []
        with self._write() as db:
            for claim, a, next_ in results:
                error = (
                    None
                    if a.outcome is Outcome.delivered
                    else f"{a.error_class}: {a.error_message}"
                )
                cur = db.execute(
                    "UPDATE deliveries SET state = ?, next_attempt_at = ?, lease_owner = NULL, "
                    "attempts = attempts + 1, tries = tries + 1, "
                    "cycle_started_at = COALESCE(cycle_started_at, ?), "
                    "remote_id = COALESCE(?, remote_id), remote_url = COALESCE(?, remote_url), "
                    "last_error = ?, updated_at = ? "
                    "WHERE id = ? AND fence = ? AND state = 'in_flight' "
                    "RETURNING attempts, notice_pk, channel",
                    (
                        next_.state.value,
                        next_.at if next_.at is not None else a.finished_at,
                        a.started_at,
                        a.remote_id,
                        a.remote_url,
                        error,
                        a.finished_at,
                        claim.delivery_id,
                        claim.fence,
                    ),
                )
                row = cur.fetchone()
                if row is None:  # another worker holds it now: this result is not ours to write
                    recorded.append(False)
                    continue
                if next_.state is DeliveryState.delivered:
                    db.execute(
                        "UPDATE tallies SET delivered = delivered + 1 WHERE channel = ? AND "
                        "(day, category) = "
                        "(SELECT publish_day, category FROM notices WHERE pk = ?)",
                        (row[2], row[1]),
                    )
                db.execute(
                    "INSERT INTO attempts (delivery_id, number, worker, fence, started_at, "
                    "finished_at, outcome, error_class, error_message, status, remote_id, "
                    "remote_url, payload_sha256) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        claim.delivery_id,
                        row[0],
                        worker,
                        claim.fence,
                        a.started_at,
                        a.finished_at,
                        a.outcome.value,
                        a.error_class,
                        a.error_message,
                        a.status,
                        a.remote_id,
                        a.remote_url,
                        a.payload_sha256,
                    ),
                )
                recorded.append(True)
        return recorded

    def release(self, claims: Sequence[Claim], worker: str, now: float) -> int:
        with self._write() as db:
            released = 0
            for c in claims:
                cur = db.execute(
                    "UPDATE deliveries SET state = 'pending', lease_owner = NULL, "
                    "next_attempt_at = ?, updated_at = ? "
                    "WHERE id = ? AND fence = ? AND state = 'in_flight'",
                    (now, now, c.delivery_id, c.fence),
                )
                released += cur.rowcount
        return released

    def replay(
        self,
        now: float,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        states: Sequence[DeliveryState] = (DeliveryState.failed, DeliveryState.dead),
    ) -> int:
        if not states:
            return 0
        marks = ",".join("?" for _ in states)
        where = f"state IN ({marks})"
        params: list[Any] = [s.value for s in states]
        if notice_id is not None:
            where += " AND notice_pk IN (SELECT pk FROM notices WHERE id = ?)"
            params.append(notice_id)
        if channel is not None:
            where += " AND channel = ?"
            params.append(channel)
        with self._write() as db:
            cur = db.execute(
                "UPDATE deliveries SET state = 'pending', next_attempt_at = ?, tries = 0, "
                f"cycle_started_at = NULL, updated_at = ? WHERE {where}",
                [now, now, *params],
            )
            return cur.rowcount

    # --- reads ---------------------------------------------------------------

    def notice(self, notice_id: str, version: int) -> NoticeRecord | None:
        rows = self._read(
            "SELECT id, version, category, notice_type, region_code, title, digest, content, "
            "accepted_at, publish_at FROM notices WHERE id = ? AND version = ?",
            (notice_id, version),
        )
        return NoticeRecord(*rows[0]) if rows else None

    def deliveries(
        self,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        state: DeliveryState | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRow]:
        where, params = ["1=1"], []
        if notice_id is not None:
            where.append("n.id = ?")
            params.append(notice_id)
        if channel is not None:
            where.append("d.channel = ?")
            params.append(channel)
        if state is not None:
            where.append("d.state = ?")
            params.append(state.value)
        sql = (
            "SELECT d.id, n.id, n.version, d.channel, d.state, d.attempts, d.next_attempt_at, "
            "d.idempotency_key, d.remote_id, d.remote_url, d.last_error, d.updated_at, n.title, "
            "n.category FROM deliveries d JOIN notices n ON n.pk = d.notice_pk "
            f"WHERE {' AND '.join(where)} ORDER BY d.id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self._read(sql, params)
        result = []
        for r in rows:
            state_ = DeliveryState(r[4])
            due = r[6] if state_ in (DeliveryState.pending, DeliveryState.in_flight) else None
            result.append(DeliveryRow(r[0], r[1], r[2], r[3], state_, r[5], due, *r[7:]))
        return result

    def attempts(self, filter: AttemptFilter) -> Iterator[AttemptRow]:
        where: list[str] = []
        params: list[Any] = []
        if filter.notice_id is not None:
            where.append("n.id = ?")
            params.append(filter.notice_id)
        if filter.channel is not None:
            where.append("d.channel = ?")
            params.append(filter.channel)
        if filter.outcome is not None:
            where.append("a.outcome = ?")
            params.append(filter.outcome.value)
        if filter.since is not None:
            where.append("a.started_at >= ?")
            params.append(filter.since)
        order = "DESC" if filter.newest_first else "ASC"
        cmp = "<" if filter.newest_first else ">"
        cursor: int | None = None
        remaining = filter.limit
        # Keyset pages: a long export never holds the lock or the whole log in memory.
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            conds = list(where)
            args = list(params)
            if cursor is not None:
                conds.append(f"a.id {cmp} ?")
                args.append(cursor)
            rows = self._read(
                "SELECT a.id, a.delivery_id, n.id, n.version, d.channel, a.number, a.worker, "
                "a.started_at, a.finished_at, a.outcome, a.error_class, a.error_message, "
                "a.status, a.remote_id, a.remote_url, a.payload_sha256 "
                "FROM attempts a JOIN deliveries d ON d.id = a.delivery_id "
                "JOIN notices n ON n.pk = d.notice_pk "
                f"{'WHERE ' + ' AND '.join(conds) if conds else ''} "
                f"ORDER BY a.id {order} LIMIT {page}",
                args,
            )
            for r in rows:
                yield _attempt_row(r)
            if len(rows) < page:
                return
            cursor = rows[-1][0]
            if remaining is not None:
                remaining -= len(rows)

    def counts(self) -> dict[tuple[str, DeliveryState], int]:
        rows = self._read("SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state")
        return {(r[0], DeliveryState(r[1])): r[2] for r in rows}

    def year_counts(self, year: int) -> YearCounts:
        rows = self._read(
            "SELECT category, channel, SUM(routed), SUM(delivered) FROM tallies "
            "WHERE day >= ? AND day < ? GROUP BY category, channel",
            (f"{year:04d}-01-01", f"{year + 1:04d}-01-01"),
        )
        return YearCounts(
            notices={r[0]: r[2] for r in rows if r[1] == ""},
            routed={(r[0], r[1]): r[2] for r in rows if r[1] != ""},
            delivered={(r[0], r[1]): r[3] for r in rows if r[1] != ""},
        )

    def next_due(self) -> float | None:
        rows = self._read(
            "SELECT next_attempt_at FROM deliveries INDEXED BY deliveries_next "
            "WHERE state IN ('pending', 'in_flight') ORDER BY next_attempt_at LIMIT 1"
        )
        return rows[0][0] if rows else None

    def changed(self) -> bool:
        version = self._pragma_data_version()
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    def set_circuit(self, row: CircuitRow) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO circuits (channel, state, failures, reopens_at, worker, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET "
                "state = excluded.state, failures = excluded.failures, "
                "reopens_at = excluded.reopens_at, worker = excluded.worker, "
                "updated_at = excluded.updated_at",
                (row.channel, row.state, row.failures, row.reopens_at, row.worker, row.updated_at),
            )

    def circuits(self) -> dict[str, CircuitRow]:
        rows = self._read(
            "SELECT channel, state, failures, reopens_at, worker, updated_at FROM circuits"
        )
        return {r[0]: CircuitRow(*r) for r in rows}

    def integrity_check(self) -> str:
        return str(self._read("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._rdb.close()
            self._db.close()


def _attempt_row(r: Sequence[Any]) -> AttemptRow:
    return AttemptRow(
        id=r[0],
        delivery_id=r[1],
        notice_id=r[2],
        notice_version=r[3],
        channel=r[4],
        number=r[5],
        worker=r[6],
        started_at=r[7],
        finished_at=r[8],
        outcome=Outcome(r[9]),
        error_class=r[10],
        error_message=r[11],
        status=r[12],
        remote_id=r[13],
        remote_url=r[14],
        payload_sha256=r[15],
    )
