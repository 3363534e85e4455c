"""The ledger's hash chain: every change recorded as a link naming the one before it.

Backend-neutral. A store hands the changes a write transaction made to
``extend`` as Events, inside that transaction, and stores the Links it
returns; ``walk`` checks stored links in order. A link's hash covers its
place (seq), the time, the previous link's hash, what it is about (kind, ref,
delivery) and the SHA-256 of its body — the change as canonical JSON — so
editing, inserting or deleting any link, or reordering them, breaks the chain
at that link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

GENESIS = "0" * 64  # the "previous hash" of the first link


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spare whitespace: one text for one value, on any backend."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Event:
    """One change to chain: ``ref`` is the primary key of the row it records in its table."""

    kind: str  # notice | delivery | attempt | replay | archive | approval …
    ref: int
    body: Mapping[str, Any]
    at: float
    delivery: int | None = None  # the delivery whose state this change sets, if any


@dataclass(frozen=True)
class Head:
    """The newest link: its place and hash (``seq`` 0 and GENESIS for an empty chain)."""

    seq: int
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


EMPTY = Head(0, GENESIS)


@dataclass(frozen=True)
class Link:
    """One chain row as stored."""

    seq: int
    at: float
    kind: str
    ref: int
    delivery: int | None
    body: str
    body_sha256: str
    prev_hash: str
    hash: str

    @classmethod
    def from_row(cls, r: Row) -> Link:
        return cls(
            seq=int(r["seq"]),
            at=float(r["at"]),
            kind=r["kind"],
            ref=int(r["ref"]),
            delivery=None if r["delivery"] is None else int(r["delivery"]),
            body=r["body"],
            body_sha256=r["body_sha256"],
            prev_hash=r["prev_hash"],
            hash=r["hash"],
        )

    def params(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "kind": self.kind,
            "ref": self.ref,
            "delivery": self.delivery,
            "body": self.body,
            "body_sha256": self.body_sha256,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def content(self) -> Any:
        return json.loads(self.body)

    def expected_hash(self) -> str:
        return link_hash(
            self.seq, self.at, self.prev_hash, self.kind, self.ref, self.delivery, self.body_sha256
        )


def link_hash(
    seq: int,
    at: float,
    prev_hash: str,
    kind: str,
    ref: int,
    delivery: int | None,
    body_sha256: str,
) -> str:
    fields = [str(seq), repr(float(at)), prev_hash, kind, str(ref), "", body_sha256]
    if delivery is not None:
        fields[5] = str(delivery)
    return sha256("\n".join(fields))


def extend(head: Head, events: Iterable[Event]) -> tuple[list[Link], Head]:
    """The links that record ``events`` after ``head``, and the new head."""
    links = []
    for e in events:
        body = canonical(e.body)
        body_sha256 = sha256(body)
        seq = head.seq + 1
        digest = link_hash(seq, e.at, head.hash, e.kind, e.ref, e.delivery, body_sha256)
        links.append(
            Link(seq, float(e.at), e.kind, e.ref, e.delivery, body, body_sha256, head.hash, digest)
        )
        head = Head(seq, digest)
    return links, head


@dataclass(frozen=True)
class Finding:
    """Where the record and the chain disagree.

    ``seq`` is the chain row where it shows (None: a ledger row the chain never
    recorded); ``change`` says what was done: edited, inserted or deleted.
    """

    seq: int | None
    table: str  # chain, notices, deliveries, attempts, approval_requests, approvals, anchor, …
    ref: int | None
    change: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "table": self.table,
            "ref": self.ref,
            "change": self.change,
            "message": self.message,
        }

    def order(self) -> tuple[int, int, str, int]:
        """Chain order; a row the chain never saw comes last.

        A broken chain comes first: what it holds after the break (and so the
        state it gives each delivery) can no longer be trusted.
        """
        if self.table == "chain":
            return (0, self.seq or 0, "", 0)
        seq = self.seq if self.seq is not None else 1 << 62
        return (1, seq, self.table, self.ref or 0)


class Walk:
    """Checks links fed in seq order against each other and against the recorded head."""

    def __init__(self, recorded: Head) -> None:
        self.recorded = recorded
        self.head = EMPTY
        self.finding: Finding | None = None
        self.rows = 0

    def feed(self, links: Sequence[Link]) -> bool:
        """Check a page of links; False once the chain is broken (later links prove nothing)."""
        for link in links:
            if self.finding is not None:
                return False
            self.finding = self._check(link)
            if self.finding is None:
                self.head = Head(link.seq, link.hash)
                self.rows += 1
        return self.finding is None

    def _check(self, link: Link) -> Finding | None:
        expected = self.head.seq + 1
        if link.seq > self.recorded.seq:
            return Finding(
                link.seq,
                "chain",
                link.seq,
                "inserted",
                f"chain row {link.seq} lies beyond the recorded head (row {self.recorded.seq}): "
                "it was inserted",
            )
        if link.seq != expected:
            rows = (
                f"row {expected}" if link.seq == expected + 1 else f"rows {expected}–{link.seq - 1}"
            )
            return Finding(expected, "chain", expected, "deleted", f"chain {rows} deleted")
        if sha256(link.body) != link.body_sha256 or link.expected_hash() != link.hash:
            return Finding(
                link.seq,
                "chain",
                link.seq,
                "edited",
                f"chain row {link.seq} ({link.kind} {link.ref}) was edited: "
                "its content does not match its hash",
            )
        if link.prev_hash != self.head.hash:
            return Finding(
                link.seq,
                "chain",
                link.seq,
                "inserted",
                f"chain row {link.seq} ({link.kind} {link.ref}) does not follow row "
                f"{self.head.seq}: a row was inserted or replaced there",
            )
        return None

    def finish(self) -> Finding | None:
        """After the last link: the chain must end where the recorded head says."""
        if self.finding is not None:
            return self.finding
        if self.head.seq < self.recorded.seq:
            first = self.head.seq + 1
            rows = (
                f"row {first}"
                if first == self.recorded.seq
                else f"rows {first}–{self.recorded.seq}"
            )
            self.finding = Finding(first, "chain", first, "deleted", f"chain {rows} deleted")
        elif self.head.hash != self.recorded.hash:
            self.finding = Finding(
                self.head.seq,
                "chain",
                self.head.seq,
                "edited",
                f"the recorded head does not match chain row {self.head.seq}: it was edited",
            )
        return self.finding
