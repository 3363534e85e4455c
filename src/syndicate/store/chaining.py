"""The hash chain as every SQL backend keeps it: the logic once, each backend's SQL by name.

A backend supplies named queries (``chain_head_locked``, ``insert_link``,
``set_chain_head`` and the readers below); ``append`` runs inside the write
transaction that made the changes. ``chain_head_locked`` is where writers are
put in line: SQLite's write transaction already is the only writer;
PostgreSQL locks the one head row (``FOR UPDATE``) until commit, so links are
numbered in commit order whatever the number of workers. The head is taken
last in a transaction, after the rows it records, so writers queue on it and
never wait on each other in a circle. SQLite's queries are in
``sqlite_queries.sql``; PostgreSQL's in ``postgres_chain.sql``, which its store
loads beside its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..audit.chain import Event, Head, Link, extend
from ..audit.events import (
    attempt_recorded,
    delivery_created,
    notice_accepted,
    operation_recorded,
    pause_changed,
    token_changed,
    warning_recorded,
)
from ..errors import StoreError
from .rows import Row

LEDGER_TABLES = {
    "notices": "ledger_notices",
    "deliveries": "ledger_deliveries",
    "attempts": "ledger_attempts",
    "approval_requests": "ledger_approval_requests",
    "approvals": "ledger_approvals",
    "notice_warnings": "ledger_warnings",
    "operations": "ledger_operations",
    "withdrawals": "ledger_withdrawals",
}
STATE_TABLES = {"tokens": "ledger_tokens", "pauses": "ledger_pauses"}


class Tx(Protocol):
    def rows(self, name: str, params: Mapping[str, Any] | None = None) -> list[Row]: ...

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None: ...


def append(tx: Tx, events: Sequence[Event]) -> Head | None:
    """Chain ``events`` after the head, in the caller's transaction; the new head."""
    if not events:
        return None
    (row,) = tx.rows("chain_head_locked")
    links, head = extend(Head(int(row["seq"]), row["hash"]), events)
    tx.many("insert_link", [link.params() for link in links])
    tx.many("set_chain_head", [head.as_dict()])
    return head


def head(tx: Tx) -> Head:
    (row,) = tx.rows("chain_head")
    return Head(int(row["seq"]), row["hash"])


def links(tx: Tx, after: int, limit: int) -> list[Link]:
    return [Link.from_row(r) for r in tx.rows("chain_links", {"after": after, "limit": limit})]


def hash_at(tx: Tx, seq: int) -> str | None:
    found = tx.rows("chain_link_hash", {"seq": seq})
    return str(found[0]["hash"]) if found else None


def links_of(tx: Tx, kind: str, after: int, limit: int) -> list[Link]:
    found = tx.rows("chain_links_of", {"kind": kind, "after": after, "limit": limit})
    return [Link.from_row(r) for r in found]


def last_states(tx: Tx, after: int, limit: int) -> list[Link]:
    found = tx.rows("chain_last_states", {"after": after, "limit": limit})
    return [Link.from_row(r) for r in found]


def ledger_rows(tx: Tx, table: str, after: int, limit: int) -> list[Row]:
    if table not in LEDGER_TABLES:
        raise ValueError(f"no ledger table {table!r}")
    return tx.rows(LEDGER_TABLES[table], {"after": after, "limit": limit})


def ledger_state(tx: Tx, table: str) -> list[Row]:
    """Every row of a small table whose rows change state (tokens, pauses)."""
    if table not in STATE_TABLES:
        raise ValueError(f"no state table {table!r}")
    return tx.rows(STATE_TABLES[table])


def next_ref(tx: Tx, kind: str) -> int:
    """The number of the next change of ``kind`` (tokens, pauses: rows keyed by text)."""
    (row,) = tx.rows("chain_last_ref", {"kind": kind})
    return int(row["n"]) + 1


def archived_attempts(tx: Tx, after: int, limit: int) -> list[tuple[int, int]]:
    found = tx.rows("archived_attempts", {"after": after, "limit": limit})
    return [(int(r["attempt_id"]), int(r["archive"])) for r in found]


def archivable(tx: Tx, before: float, after: int, limit: int) -> list[Row]:
    return tx.rows("archivable_attempts", {"before": before, "after": after, "limit": limit})


def archive(tx: Tx, ids: Sequence[int], body: Mapping[str, Any], at: float) -> Head:
    """Chain an archive and move its attempts out, in the caller's transaction.

    The archive's link comes first; the attempts it holds are listed against it
    (the only way an attempt may leave the table) and then deleted.
    """
    (present,) = tx.rows("count_attempts_in", {"ids": json.dumps(list(ids))})
    if int(present["n"]) != len(ids):
        raise StoreError("the attempts to archive changed while the archive was written")
    (count,) = tx.rows("archive_count")
    head = append(tx, [Event("archive", int(count["n"]) + 1, body, at)])
    assert head is not None
    tx.many("insert_archived", [{"attempt_id": i, "archive": head.seq} for i in ids])
    tx.many("delete_archived_attempt", [{"attempt_id": i} for i in ids])
    return head


def adopt(tx: Tx, at: float, page: int = 1000) -> int:
    """Chain a ledger that was written before chaining began: every row as it stands now.

    Notices, then attempts, then each delivery's present state (last, so it
    is the state the chain holds). Runs once, in the migration's transaction.
    """
    makers: list[tuple[str, str, Callable[[Row], Event]]] = [
        ("ledger_notices", "pk", lambda r: notice_accepted(r, at)),
        ("ledger_attempts", "id", lambda r: attempt_recorded(r, None, at)),
        ("adopt_deliveries", "id", lambda r: delivery_created(r, at)),
    ]
    events: list[Event] = []
    for query, key, make in makers:
        after = 0
        while True:
            found = tx.rows(query, {"after": after, "limit": page})
            events += [make(r) for r in found]
            if len(found) < page:
                break
            after = int(found[-1][key])
    append(tx, events)
    return len(events)


def adopt_facts(tx: Tx, at: float, page: int = 1000) -> int:
    """Chain the facts written before they were chained: warnings, operations, tokens, pauses.

    Every row as it stands now, in the migration's transaction.
    """
    makers: list[tuple[str, Callable[[Row], Event]]] = [
        ("notice_warnings", lambda r: warning_recorded(r, at)),
        ("operations", lambda r: operation_recorded(r, at)),
    ]
    events: list[Event] = []
    for table, make in makers:
        after = 0
        while True:
            found = ledger_rows(tx, table, after, page)
            events += [make(r) for r in found]
            if len(found) < page:
                break
            after = int(found[-1]["id"])
    tokens = ledger_state(tx, "tokens")
    events += [token_changed(r, n, at) for n, r in enumerate(tokens, 1)]
    pauses = ledger_state(tx, "pauses")
    events += [pause_changed(r["channel"], r, n, at) for n, r in enumerate(pauses, 1)]
    append(tx, events)
    return len(events)
