"""Copy a whole ledger from one store to another (SQLite ⇄ PostgreSQL), then prove the copy.

Rows keep their ids, so attempt numbers, fences and every reference stay as
they were. The target must be empty. After the copy both ledgers are read
back table by table: counts and a digest of every row (every notice digest,
the attempt history, the yearly tallies) must match, or the copy is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import StoreError
from .sqlstore import SqlStore

# Table, key, columns: the ledger's whole state (meta is each store's own).
TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "notices",
        "pk",
        (
            "pk", "id", "version", "category", "notice_type", "region_code", "title",
            "digest", "content", "publish_at", "publish_day", "accepted_at", "body_sanitized",
            "kind",
        ),
    ),
    (
        "deliveries",
        "id",
        (
            "id", "notice_pk", "channel", "idempotency_key", "state", "attempts", "tries",
            "cycle_started_at", "next_attempt_at", "lease_owner", "fence", "remote_id",
            "remote_url", "last_error", "updated_at", "purpose",
        ),
    ),
    (
        "attempts",
        "id",
        (
            "id", "delivery_id", "number", "worker", "fence", "started_at", "finished_at",
            "outcome", "error_class", "error_message", "status", "remote_id", "remote_url",
            "payload_sha256",
        ),
    ),
    (
        "circuits",
        "channel",
        (
            "channel", "state", "failures", "reopens_at", "worker", "updated_at", "probe_until",
            "opened_at",
        ),
    ),
    ("tallies", "day, category, channel", ("day", "category", "channel", "routed", "delivered")),
    ("tokens", "id", ("id", "name", "scopes", "secret_sha256", "created_at", "revoked_at")),
    ("operations", "id", ("id", "at", "actor", "action", "subject")),
    (
        "chain",
        "seq",
        ("seq", "at", "kind", "ref", "delivery", "body", "body_sha256", "prev_hash", "hash"),
    ),
    ("chain_head", "id", ("id", "seq", "hash")),
    ("archived_attempts", "attempt_id", ("attempt_id", "archive")),
    ("pauses", "channel", ("channel", "paused_at", "paused_by")),
    ("notice_warnings", "id", ("id", "notice_pk", "rule", "message")),
    ("attempt_tallies", "minute, channel, outcome", ("minute", "channel", "outcome", "n")),
    ("channel_failures", "channel", ("channel", "attempt_id")),
    ("approval_requests", "notice_pk", ("notice_pk", "steps", "step_count", "channels")),
    (
        "approvals",
        "id",
        (
            "id", "notice_pk", "position", "step", "decision", "approver", "digest", "comment",
            "via", "at",
        ),
    ),
    ("withdrawals", "id", ("id", "notice_id", "version", "reason", "at", "by")),
)  # fmt: skip

# Tables a new ledger already has a row in (the chain's head): that row is replaced.
REPLACED = ("chain_head",)

PAGE = 5000


@dataclass(frozen=True)
class TableCheck:
    table: str
    rows: int
    digest: str


def _pages(store: SqlStore, table: str, key: str, columns: tuple[str, ...]) -> Iterator[list[Any]]:
    offset = 0
    while True:
        rows = store.raw_rows(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {key} LIMIT {PAGE} OFFSET {offset}"
        )
        if not rows:
            return
        yield [tuple(r[c] for c in columns) for r in rows]
        offset += len(rows)


def fingerprint(store: SqlStore) -> list[TableCheck]:
    """Each table's row count and a digest of its rows, in key order."""
    checks = []
    for table, key, columns in TABLES:
        h = hashlib.sha256()
        n = 0
        pages: Any = _pages(store, table, key, columns)
        if table in ("circuits", "tallies", "tokens", "pauses"):
            # Text keys sort by each server's collation: small tables, sorted here instead.
            pages = [sorted(row for page in pages for row in page)]
        for page in pages:
            for row in page:
                h.update(json.dumps(row, ensure_ascii=False, default=str).encode())
                h.update(b"\n")
                n += 1
        checks.append(TableCheck(table, n, h.hexdigest()))
    return checks


def copy_ledger(
    src: SqlStore, dst: SqlStore, progress: Callable[[str, int], None] | None = None
) -> list[TableCheck]:
    """Copy every row of ``src`` into the empty ``dst`` and verify; the checks that matched."""
    if dst.raw_rows("SELECT 1 AS one FROM notices LIMIT 1"):
        raise StoreError("the target ledger is not empty; copy into a new, empty ledger")
    for table, key, columns in TABLES:
        copied = 0
        if table in REPLACED:
            dst.raw_execute(f"DELETE FROM {table}")
        for page in _pages(src, table, key, columns):
            dst.raw_insert(table, columns, page)
            copied += len(page)
            if progress is not None:
                progress(table, copied)
    dst.after_copy()
    want, got = fingerprint(src), fingerprint(dst)
    for a, b in zip(want, got, strict=True):
        if a != b:
            raise StoreError(
                f"the copy does not match in {a.table}: {a.rows} rows (sha256 {a.digest[:12]}…) "
                f"in the source, {b.rows} (sha256 {b.digest[:12]}…) in the target"
            )
    return got
