"""The embedded SQLite ledger (WAL): the default store, one file, many readers.

Writers take ``BEGIN IMMEDIATE`` so a claim or a result is decided under the
write lock, never upgraded half-way. ``synchronous=FULL``: when enqueue
returns, the notice is on disk, even if the power fails next.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..audit import events as E
from ..audit.chain import Event, Head, Link
from ..errors import StoreError
from ..notice import LOCAL_TZ
from ..safefile import create_private
from . import chaining, migrate, sql
from . import rows as R
from .base import (
    AcceptResult,
    AttemptFilter,
    AttemptRecord,
    AttemptRow,
    Backlog,
    CircuitRow,
    Claim,
    DeliveryFilter,
    DeliveryRow,
    DeliveryState,
    EarlierDelivery,
    FailureGroupRow,
    Next,
    NoticeFilter,
    NoticeRecord,
    NoticeRow,
    OperationRow,
    Outcome,
    PauseRow,
    Store,
    TokenRecord,
    YearCounts,
    idempotency_key,
)

_PAGE = 1000
Q = sql.load("sqlite_queries.sql")


def _describe(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return "the ledger is locked by another process; try again when it is released"
    if "disk is full" in text or "full" in text:
        return "the ledger's disk is full"
    if "readonly" in text:
        return "the ledger is read-only"
    return text


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


class _Tx:
    """A connection running this backend's named queries (what the chain's logic asks for)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def rows(self, name: str, params: Mapping[str, Any] | None = None) -> list[R.Row]:
        return self.db.execute(Q[name], params or {}).fetchall()

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None:
        self.db.executemany(Q[name], params)


def _where(conditions: Sequence[str]) -> str:
    return " AND ".join(Q[c] for c in conditions) if conditions else "1 = 1"


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
            try:
                # Owner-only; SQLite gives its -wal and -shm files the same mode.
                create_private(Path(self.path))
            except OSError as exc:
                raise StoreError(f"cannot create the ledger {self.path}: {exc.strerror}") from None
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
        for migration in migrate.pending("sqlite", self.schema_found, self.path):
            db.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                if self._schema_version() < migration.version:
                    for statement in _statements(migration.sql):
                        db.execute(statement)
                    migrate.then(migration.version, _Tx(db), time.time())
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

    def _read(self, query: str, params: Mapping[str, Any] | None = None) -> list[sqlite3.Row]:
        with self._read_lock:
            try:
                return self._rdb.execute(query, params or {}).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(_describe(exc)) from None

    def _pragma_data_version(self) -> int:
        with self._read_lock:
            return int(self._rdb.execute(Q["data_version"]).fetchone()[0])

    # --- writes --------------------------------------------------------------

    def accept(
        self, notice: NoticeRecord, channels: Sequence[str], now: float, *, by: str | None = None
    ) -> AcceptResult:
        with self._write() as db:
            row = db.execute(Q["find_notice"], {"id": notice.id, "version": notice.version})
            found = row.fetchone()
            if found is not None:
                if found["digest"] != notice.digest:
                    raise R.conflict(notice, found["digest"])
                routed = [
                    r["channel"] for r in db.execute(Q["routed_channels"], {"pk": found["pk"]})
                ]
                return AcceptResult(False, routed, found["accepted_at"])
            day = datetime.fromtimestamp(notice.publish_at, LOCAL_TZ).date().isoformat()
            stored = db.execute(
                Q["insert_notice"],
                {**R.notice_params(notice), "publish_day": day, "accepted_at": now},
            ).fetchone()
            pk = stored["pk"]
            events = [E.notice_accepted(stored, now)]
            db.executemany(
                Q["insert_warning"],
                [
                    {"notice_pk": pk, "rule": rule, "message": message}
                    for rule, message in notice.warnings
                ],
            )
            db.executemany(
                Q["tally_routed"],
                [
                    {"day": day, "category": notice.category, "channel": ch}
                    for ch in ["", *channels]
                ],
            )
            due = max(now, notice.publish_at)
            for ch in channels:
                created = db.execute(
                    Q["insert_delivery"],
                    {
                        "notice_pk": pk,
                        "channel": ch,
                        "idempotency_key": idempotency_key(notice.id, notice.version, ch),
                        "due": due,
                        "now": now,
                    },
                ).fetchone()
                events.append(E.delivery_created(created, now))
            if by is not None:
                subject = f"{notice.id}.v{notice.version}"
                db.execute(
                    Q["insert_operation"],
                    {"at": now, "actor": by, "action": "enqueue", "subject": subject},
                )
            chaining.append(_Tx(db), events)
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
                query = "due_deliveries" if channel is None else "due_deliveries_of_channel"
                cur = db.execute(Q[query], {"now": now, "channel": channel, "limit": limit})
                taken = cur.fetchall()
                db.executemany(
                    Q["take_lease"],
                    [
                        {
                            "worker": worker,
                            "expires": expires,
                            "now": now,
                            "delivery_id": r["delivery_id"],
                        }
                        for r in taken
                    ],
                )
                claims += [R.claim(r, expires) for r in taken]
        return claims

    def record_many(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> list[bool]:
        recorded = []
        events: list[Event] = []
        with self._write() as db:
            for claim, a, next_ in results:
                params = R.finish_params(claim, a, next_)
                row = db.execute(Q["finish_delivery"], params).fetchone()
                if row is None:  # another worker holds it now: this result is not ours to write
                    recorded.append(False)
                    continue
                if next_.state is DeliveryState.delivered:
                    db.execute(
                        Q["tally_delivered"],
                        {"channel": row["channel"], "notice_pk": row["notice_pk"]},
                    )
                attempt = db.execute(
                    Q["insert_attempt"], R.attempt_params(claim, worker, a, row["attempts"])
                ).fetchone()
                events.append(E.attempt_recorded(attempt, row, a.finished_at))
                recorded.append(True)
            chaining.append(_Tx(db), events)
        return recorded

    def replay(
        self,
        now: float,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        states: Sequence[DeliveryState] = (DeliveryState.failed, DeliveryState.dead),
        notice_version: int | None = None,
        delivery_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        error_class: str | None = None,
        dry_run: bool = False,
        by: str | None = None,
    ) -> int:
        if not states:
            return 0
        params = {
            "now": now,
            "states": json.dumps([s.value for s in states]),
            "notice_id": notice_id,
            "version": notice_version,
            "channel": channel,
            "delivery_id": delivery_id,
            "since": since,
            "until": until,
            "error_prefix": f"{_like_escape(error_class)}: %" if error_class else None,
        }
        conditions = ["filter_states"]
        for name, key in (
            ("filter_replay_notice", "notice_id"),
            ("filter_replay_channel", "channel"),
            ("filter_replay_delivery", "delivery_id"),
            ("filter_replay_since", "since"),
            ("filter_replay_until", "until"),
            ("filter_replay_error_class", "error_prefix"),
        ):
            if params[key] is not None:
                conditions.append(name)
        if notice_version is not None:
            conditions.append("filter_replay_version")
        where = _where(conditions)
        if dry_run:
            return int(self._read(Q["replay_count"].format(where=where), params)[0][0])
        with self._write() as db:
            found = db.execute(Q["replay"].format(where=where), params).fetchall()
            chaining.append(_Tx(db), [E.delivery_replayed(r, now) for r in found])
            if by is not None and found:
                chosen = {k: v for k, v in params.items() if v is not None and k != "now"}
                count = {"count": len(found)}
                subject = json.dumps({**chosen, **count}, ensure_ascii=False, sort_keys=True)
                db.execute(
                    Q["insert_operation"],
                    {"at": now, "actor": by, "action": "replay", "subject": subject},
                )
        return len(found)

    # --- reads ---------------------------------------------------------------

    def notice(self, notice_id: str, version: int) -> NoticeRecord | None:
        found = self._read(Q["notice"], {"id": notice_id, "version": version})
        if not found:
            return None
        warnings = self._read(Q["notice_warnings"], {"id": notice_id, "version": version})
        return replace(
            R.notice_record(found[0]),
            warnings=tuple((w["rule"], w["message"]) for w in warnings),
        )

    def lease_owners(self) -> list[str]:
        return [r["lease_owner"] for r in self._read(Q["lease_owners"])]

    def expire_leases(self, owner: str, now: float) -> int:
        with self._write() as db:
            return int(db.execute(Q["expire_leases"], {"owner": owner, "now": now}).rowcount)

    def earlier_delivery(
        self, notice_id: str, version: int, channel: str
    ) -> EarlierDelivery | None:
        found = self._read(
            Q["earlier_delivery"],
            {"notice_id": notice_id, "version": version, "channel": channel},
        )
        if not found:
            return None
        r = found[0]
        return EarlierDelivery(
            r["version"], DeliveryState(r["state"]), r["remote_id"], r["remote_url"]
        )

    def deliveries(
        self,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        state: DeliveryState | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRow]:
        conditions = [
            name
            for name, value in (
                ("filter_notice", notice_id),
                ("filter_channel", channel),
                ("filter_state", state),
            )
            if value is not None
        ]
        params = {
            "notice_id": notice_id,
            "channel": channel,
            "state": state.value if state is not None else None,
            "limit": -1 if limit is None else int(limit),
        }
        rows = self._read(Q["deliveries"].format(where=_where(conditions)), params)
        return [R.delivery_row(r) for r in rows]

    def attempts(self, filter: AttemptFilter) -> Iterator[AttemptRow]:
        conditions = [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_channel", filter.channel),
                ("filter_outcome", filter.outcome),
                ("filter_since", filter.since),
                ("filter_notice_version", filter.notice_version),
                ("filter_error_class", filter.error_class),
                ("filter_until", filter.until),
            )
            if value is not None
        ]
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "channel": filter.channel,
            "outcome": filter.outcome.value if filter.outcome is not None else None,
            "since": filter.since,
            "notice_version": filter.notice_version,
            "error_class": filter.error_class,
            "until": filter.until,
        }
        order = "DESC" if filter.newest_first else "ASC"
        keyset = "filter_before" if filter.newest_first else "filter_after"
        remaining = filter.limit
        if filter.newest_first and filter.before_id is not None:
            conditions.append(keyset)  # continuing a page a reader was given
            params["cursor"] = filter.before_id
        first = Q["attempts"].format(where=_where(conditions), order=order)
        more = Q["attempts"].format(where=_where([*conditions, keyset]), order=order)
        query = first
        # Keyset pages: a long export never holds the lock or the whole log in memory.
        while remaining is None or remaining > 0:
            page = _PAGE if remaining is None else min(_PAGE, remaining)
            rows = self._read(query, {**params, "limit": page})
            for r in rows:
                yield R.attempt_row(r)
            if len(rows) < page:
                return
            params["cursor"] = rows[-1]["id"]
            query = more
            if remaining is not None:
                remaining -= len(rows)

    def counts(self) -> dict[tuple[str, DeliveryState], int]:
        return {(r["channel"], DeliveryState(r["state"])): r["n"] for r in self._read(Q["counts"])}

    def year_counts(self, year: int) -> YearCounts:
        found = self._read(
            Q["year_counts"],
            {"first_day": f"{year:04d}-01-01", "next_year": f"{year + 1:04d}-01-01"},
        )
        return R.year_counts(found)

    def next_due(self) -> float | None:
        rows = self._read(Q["next_due"])
        return float(rows[0]["next_attempt_at"]) if rows else None

    def changed(self) -> bool:
        version = self._pragma_data_version()
        if version != self._data_version:
            self._data_version = version
            return True
        return False

    def set_circuit(self, row: CircuitRow) -> None:
        with self._write() as db:
            db.execute(Q["set_circuit"], R.circuit_params(row))

    def circuits(self) -> dict[str, CircuitRow]:
        return {r["channel"]: R.circuit_row(r) for r in self._read(Q["circuits"])}

    # --- tokens and operations ----------------------------------------------------

    def add_token(self, token: TokenRecord) -> None:
        with self._write() as db:
            if db.execute(Q["live_token_named"], {"name": token.name}).fetchone():
                raise StoreError(f"a token called {token.name!r} exists; revoke it first")
            db.execute(Q["insert_token"], R.token_params(token))

    def token(self, token_id: str) -> TokenRecord | None:
        rows = self._read(Q["token"], {"id": token_id})
        return R.token_record(rows[0]) if rows else None

    def tokens(self) -> list[TokenRecord]:
        return [R.token_record(r) for r in self._read(Q["tokens"])]

    def revoke_token(self, name: str, now: float) -> int:
        with self._write() as db:
            return db.execute(Q["revoke_token"], {"name": name, "now": now}).rowcount

    def record_operation(self, at: float, actor: str, action: str, subject: str) -> None:
        with self._write() as db:
            params = {"at": at, "actor": actor, "action": action, "subject": subject}
            db.execute(Q["insert_operation"], params)

    def operations(self, limit: int = 100) -> list[OperationRow]:
        return [R.operation_row(r) for r in self._read(Q["operations"], {"limit": int(limit)})]

    # --- the chain -----------------------------------------------------------

    def _chain_read(self) -> chaining.Tx:
        return _Tx(self._rdb)

    def chain_head(self) -> Head:
        with self._read_lock:
            return chaining.head(self._chain_read())

    def chain_links(self, after: int, limit: int) -> list[Link]:
        with self._read_lock:
            return chaining.links(self._chain_read(), after, limit)

    def chain_links_of(self, kind: str, after: int, limit: int) -> list[Link]:
        with self._read_lock:
            return chaining.links_of(self._chain_read(), kind, after, limit)

    def chain_last_states(self, after: int, limit: int) -> list[Link]:
        with self._read_lock:
            return chaining.last_states(self._chain_read(), after, limit)

    def ledger_rows(self, table: str, after: int, limit: int) -> list[R.Row]:
        with self._read_lock:
            return chaining.ledger_rows(self._chain_read(), table, after, limit)

    def chain_hash_at(self, seq: int) -> str | None:
        with self._read_lock:
            return chaining.hash_at(self._chain_read(), seq)

    def archived_attempts(self, after: int, limit: int) -> list[tuple[int, int]]:
        with self._read_lock:
            return chaining.archived_attempts(self._chain_read(), after, limit)

    def append_to_chain(self, events: Sequence[Event]) -> Head | None:
        if not events:
            return None
        with self._write() as db:
            return chaining.append(_Tx(db), events)

    def archivable_attempts(self, before: float, after: int, limit: int) -> list[R.Row]:
        with self._read_lock:
            return chaining.archivable(self._chain_read(), before, after, limit)

    def archive_attempts(self, ids: Sequence[int], body: Mapping[str, Any], at: float) -> Head:
        with self._write() as db:
            return chaining.archive(_Tx(db), ids, body, at)

    # --- read models ----------------------------------------------------------

    def notice_page(
        self, filter: NoticeFilter, before_pk: int | None, limit: int
    ) -> list[NoticeRow]:
        region = filter.region
        prefix = region is not None and region.endswith("*")
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "notice_version": filter.notice_version,
            "category": filter.category,
            "notice_type": filter.notice_type,
            "region": region,
            "region_prefix": _like_escape(region[:-1]) + "%" if region and prefix else None,
            "channel": filter.channel,
            "since": filter.since,
            "until": filter.until,
            "text": f"%{_like_escape(filter.text)}%" if filter.text else None,
            "cursor": before_pk,
            "limit": int(limit),
        }
        conditions = [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_notice_version", filter.notice_version),
                ("filter_category", filter.category),
                ("filter_notice_type", filter.notice_type),
                ("filter_region", region if not prefix else None),
                ("filter_region_prefix", params["region_prefix"]),
                ("filter_routed_to", filter.channel),
                ("filter_accepted_since", filter.since),
                ("filter_accepted_until", filter.until),
                ("filter_text", params["text"]),
                ("filter_notice_before", before_pk),
            )
            if value is not None
        ]
        having = Q[f"having_{filter.state.value}"] if filter.state is not None else ""
        query = Q["notice_page"].format(where=_where(conditions), having=having)
        return [R.notice_row(r) for r in self._read(query, params)]

    def notice_versions(self, notice_id: str) -> list[NoticeRecord]:
        return [R.notice_record(r) for r in self._read(Q["notice_versions"], {"id": notice_id})]

    def delivery_page(
        self, filter: DeliveryFilter, before_id: int | None, limit: int
    ) -> list[DeliveryRow]:
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "notice_version": filter.notice_version,
            "channel": filter.channel,
            "state": filter.state.value if filter.state is not None else None,
            "error_prefix": (
                f"{_like_escape(filter.error_class)}: %" if filter.error_class else None
            ),
            "since": filter.since,
            "until": filter.until,
            "cursor": before_id,
            "limit": int(limit),
        }
        conditions = [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_notice_version", filter.notice_version),
                ("filter_channel", filter.channel),
                ("filter_state", filter.state),
                ("filter_last_error_class", params["error_prefix"]),
                ("filter_updated_since", filter.since),
                ("filter_updated_until", filter.until),
                ("filter_delivery_before", before_id),
            )
            if value is not None
        ]
        query = Q["delivery_page"].format(where=_where(conditions))
        return [R.delivery_row(r) for r in self._read(query, params)]

    def failure_groups(self) -> list[FailureGroupRow]:
        return [
            FailureGroupRow(
                r["channel"],
                DeliveryState(r["state"]),
                r["error_class"],
                r["deliveries"],
                r["latest_at"],
                r["latest_error"],
            )
            for r in self._read(Q["failure_groups"])
        ]

    def accepted_since(self, since: float) -> int:
        return int(self._read(Q["accepted_since"], {"since": since})[0][0])

    def backlog(self, now: float) -> dict[str, Backlog]:
        return {
            r["channel"]: Backlog(r["pending"], r["oldest_due_at"])
            for r in self._read(Q["backlog"], {"now": now})
        }

    def attempt_outcomes(self, since: float) -> dict[tuple[str, Outcome], int]:
        rows = self._read(Q["attempt_outcomes"], {"since": since})
        return {(r["channel"], Outcome(r["outcome"])): r["n"] for r in rows}

    def last_failures(self) -> dict[str, AttemptRow]:
        return {r["channel"]: R.attempt_row(r) for r in self._read(Q["last_failures"])}

    def set_paused(self, channel: str, paused: bool, now: float, by: str | None = None) -> bool:
        with self._write() as db:
            query = Q["pause"] if paused else Q["resume"]
            return db.execute(query, {"channel": channel, "now": now, "by": by}).rowcount > 0

    def paused(self) -> dict[str, PauseRow]:
        return {r["channel"]: R.pause_row(r) for r in self._read(Q["paused"])}

    def integrity_check(self) -> str:
        return str(self._read(Q["integrity_check"])[0][0])

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._rdb.close()
            self._db.close()


def _like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
