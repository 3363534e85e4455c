"""Verify the ledger: walk the chain, then hold every notice, delivery and attempt against it.

Streams in keyset pages on both sides, so a ledger of millions of attempts is
verified in constant memory. The first finding is the earliest in chain order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from . import anchor
from .anchor import Anchor
from .anchor_channel import check_recorded
from .chain import Finding, Head, Link, Row, Walk, canonical
from .events import (
    approval_body,
    approval_request_body,
    attempt_body,
    delivery_body,
    notice_body,
    operation_body,
    pause_body,
    token_body,
    warning_body,
    withdrawal_body,
)

PAGE = 1000
MAX_FINDINGS = 100

T = TypeVar("T")


class ChainReader(Protocol):
    """What verification reads from a store (every backend provides it)."""

    def chain_head(self) -> Head: ...

    def chain_links(self, after: int, limit: int) -> list[Link]:
        """Links with seq > ``after``, in seq order."""

    def chain_links_of(self, kind: str, after: int, limit: int) -> list[Link]:
        """Links of ``kind`` with ref > ``after``, in ref order."""

    def chain_last_states(self, after: int, limit: int) -> list[Link]:
        """The newest link of each delivery above ``after``, in delivery order."""

    def ledger_rows(self, table: str, after: int, limit: int) -> list[Row]:
        """Rows of a ledger table (notices by pk, approval requests by notice_pk, the others
        by id: deliveries, attempts, approvals, withdrawals) above ``after``."""

    def ledger_state(self, table: str) -> list[Row]:
        """Every row of tokens or pauses."""

    def archived_attempts(self, after: int, limit: int) -> list[tuple[int, int]]:
        """(attempt id, archive link seq) of attempts moved to an archive, above ``after``."""

    def chain_hash_at(self, seq: int) -> str | None:
        """The hash of chain row ``seq``, if there is one."""


AnchorReader = ChainReader


@dataclass(frozen=True)
class Verification:
    """What ``syndicate verify`` found: ``ok`` with the head, or the findings, earliest first."""

    head: Head  # the last link that checked out
    recorded: Head  # what the ledger says its head is
    rows: int  # chain rows checked
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "head": self.head.as_dict(),
            "rows": self.rows,
            "findings": [f.as_dict() for f in self.findings],
        }


def _pages(fetch: Callable[[int, int], list[T]], key: Callable[[T], int]) -> Iterator[T]:
    after = 0
    while True:
        page = fetch(after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


def _join(
    rows: Iterator[Row], links: Iterator[Link], row_key: str, link_key: Callable[[Link], int]
) -> Iterator[tuple[Row | None, Link | None]]:
    """Two streams sorted by the same key, paired up; a side that lacks a key gives None."""
    row, link = next(rows, None), next(links, None)
    while row is not None or link is not None:
        rk = int(row[row_key]) if row is not None else None
        lk = link_key(link) if link is not None else None
        if lk is None or (rk is not None and rk < lk):
            yield row, None
            row = next(rows, None)
        elif rk is None or lk < rk:
            yield None, link
            link = next(links, None)
        else:
            yield row, link
            row, link = next(rows, None), next(links, None)


def _recorded(link: Link, part: str) -> dict[str, Any] | None:
    try:
        content = link.content()
    except ValueError:
        return None
    value = content.get(part) if isinstance(content, dict) else None
    return value if isinstance(value, dict) else None


def _differences(found: dict[str, Any], recorded: dict[str, Any] | None) -> list[str]:
    if recorded is None:
        return ["its record"]
    keys = sorted(set(found) | set(recorded))
    return [k for k in keys if canonical(found.get(k)) != canonical(recorded.get(k))]


def _same_state(found: dict[str, Any], recorded: dict[str, Any] | None) -> list[str]:
    # A claim leases a pending delivery without a link: in flight is pending, held.
    held = found.get("state") == "in_flight"
    if held and recorded is not None and recorded.get("state") == "pending":
        found = {**found, "state": "pending"}
    return _differences(found, recorded)


class _Check:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, finding: Finding) -> None:
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(finding)

    def table(
        self,
        noun: str,
        table: str,
        rows: Iterator[Row],
        links: Iterator[Link],
        key: str,
        link_key: Callable[[Link], int],
        compare: Callable[[Row, Link], list[str]],
        excused: Callable[[int], bool] = lambda _ref: False,
    ) -> None:
        for row, link in _join(rows, links, key, link_key):
            if link is None:
                assert row is not None
                ref = int(row[key])
                self.add(
                    Finding(
                        None,
                        table,
                        ref,
                        "inserted",
                        f"{noun} {ref} is not in the chain: it was inserted",
                    )
                )
            elif row is None:
                ref = link_key(link)
                if not excused(ref):
                    self.add(
                        Finding(
                            link.seq,
                            table,
                            ref,
                            "deleted",
                            f"{noun} {ref}, recorded by chain row {link.seq}, is missing: "
                            "it was deleted",
                        )
                    )
            else:
                differ = compare(row, link)
                if differ:
                    ref = int(row[key])
                    self.add(
                        Finding(
                            link.seq,
                            table,
                            ref,
                            "edited",
                            f"{noun} {ref} differs from chain row {link.seq} "
                            f"({', '.join(differ)}): it was edited",
                        )
                    )


class _Archived:
    """Membership in the archived attempts, asked in ascending order (a merge, not a set)."""

    def __init__(self, reader: ChainReader) -> None:
        self._ids = (i for i, _ in _pages(reader.archived_attempts, lambda pair: pair[0]))
        self._current = next(self._ids, None)

    def __call__(self, ref: int) -> bool:
        while self._current is not None and self._current < ref:
            self._current = next(self._ids, None)
        return self._current == ref


def verify(reader: ChainReader) -> Verification:
    """Walk the chain and check every ledger row against it."""
    recorded = reader.chain_head()
    walk = Walk(recorded)
    after = 0
    while True:
        page = reader.chain_links(after, PAGE)
        if not walk.feed(page) or len(page) < PAGE:
            break
        after = page[-1].seq
    check = _Check()
    broken = walk.finish()
    if broken is not None:
        check.add(broken)

    def rows(table: str, key: str) -> Iterator[Row]:
        return _pages(lambda a, n: reader.ledger_rows(table, a, n), lambda r: int(r[key]))

    def links_of(kind: str) -> Iterator[Link]:
        return _pages(lambda a, n: reader.chain_links_of(kind, a, n), lambda link: link.ref)

    check.table(
        "notice",
        "notices",
        rows("notices", "pk"),
        links_of("notice"),
        "pk",
        lambda link: link.ref,
        lambda r, link: _differences(notice_body(r), _recorded(link, "notice")),
    )
    check.table(
        "attempt",
        "attempts",
        rows("attempts", "id"),
        links_of("attempt"),
        "id",
        lambda link: link.ref,
        lambda r, link: _differences(attempt_body(r), _recorded(link, "attempt")),
        excused=_Archived(reader),
    )
    check.table(
        "delivery",
        "deliveries",
        rows("deliveries", "id"),
        _pages(reader.chain_last_states, lambda link: link.delivery or 0),
        "id",
        lambda link: link.delivery or 0,
        lambda r, link: _same_state(delivery_body(r), _recorded(link, "delivery")),
    )
    check.table(
        "approval request of notice",
        "approval_requests",
        rows("approval_requests", "notice_pk"),
        links_of("approval_request"),
        "notice_pk",
        lambda link: link.ref,
        lambda r, link: _differences(approval_request_body(r), _recorded(link, "approval_request")),
    )
    check.table(
        "approval",
        "approvals",
        rows("approvals", "id"),
        links_of("approval"),
        "id",
        lambda link: link.ref,
        lambda r, link: _differences(approval_body(r), _recorded(link, "approval")),
    )
    check.table(
        "withdrawal",
        "withdrawals",
        rows("withdrawals", "id"),
        links_of("withdrawal"),
        "id",
        lambda link: link.ref,
        lambda r, link: _differences(withdrawal_body(r), _recorded(link, "withdrawal")),
    )
    for noun, table, kind, body in (
        ("notice warning", "notice_warnings", "warning", warning_body),
        ("operation", "operations", "operation", operation_body),
    ):
        check.table(
            noun,
            table,
            rows(table, "id"),
            links_of(kind),
            "id",
            lambda link: link.ref,
            _compare(body, kind),
        )
    _check_states(reader, check, links_of)
    _check_archives(reader, check)
    for finding in check_recorded(links_of("anchor"), reader.chain_hash_at):
        check.add(finding)
    findings = sorted(check.findings, key=Finding.order)
    return Verification(walk.head, recorded, walk.rows, findings)


def _compare(body: Callable[[Row], dict[str, Any]], part: str) -> Callable[[Row, Link], list[str]]:
    return lambda r, link: _differences(body(r), _recorded(link, part))


def _check_states(
    reader: ChainReader, check: _Check, links_of: Callable[[str], Iterator[Link]]
) -> None:
    """Tokens and pauses against the state their newest links give them."""
    for noun, table, kind, key in (
        ("token", "tokens", "token", "id"),
        ("pause of channel", "pauses", "pause", "channel"),
    ):
        state: dict[str, tuple[Link, dict[str, Any] | None]] = {}
        for each in links_of(kind):
            recorded = _recorded(each, kind)
            name = recorded.get(key) if recorded is not None else None
            if kind == "pause":  # a resume records the channel and no pause
                name = _recorded_name(each)
            if isinstance(name, str):
                state[name] = (each, recorded)
        found = {str(r[key]): r for r in reader.ledger_state(table)}
        body = token_body if kind == "token" else pause_body
        for name in sorted(set(state) | set(found)):
            link: Link | None = None
            recorded = None
            if name in state:
                link, recorded = state[name]
            row = found.get(name)
            if row is not None and recorded is None:
                check.add(
                    Finding(
                        link.seq if link is not None else None,
                        table,
                        link.ref if link is not None else None,
                        "inserted",
                        f"{noun} {name} is not in the chain: it was inserted",
                    )
                )
            elif row is None and recorded is not None and link is not None:
                check.add(
                    Finding(
                        link.seq,
                        table,
                        link.ref,
                        "deleted",
                        f"{noun} {name}, recorded by chain row {link.seq}, is missing: "
                        "it was deleted",
                    )
                )
            elif row is not None and link is not None:
                differ = _differences(body(row), recorded)
                if differ:
                    check.add(
                        Finding(
                            link.seq,
                            table,
                            link.ref,
                            "edited",
                            f"{noun} {name} differs from chain row {link.seq} "
                            f"({', '.join(differ)}): it was edited",
                        )
                    )


def _recorded_name(link: Link) -> str | None:
    try:
        content = link.content()
    except ValueError:
        return None
    name = content.get("channel") if isinstance(content, dict) else None
    return name if isinstance(name, str) else None


def _check_archives(reader: ChainReader, check: _Check) -> None:
    """Every archive's link against the attempts listed under it: none added, none taken away."""
    digests: dict[int, Any] = {}
    for attempt_id, archive in _pages(reader.archived_attempts, lambda pair: pair[0]):
        digests.setdefault(archive, hashlib.sha256()).update(f"{attempt_id}\n".encode())
    for link in _pages(lambda a, n: reader.chain_links_of("archive", a, n), lambda x: x.ref):
        content = _recorded(link, "archive")
        listed = digests.pop(link.seq, hashlib.sha256()).hexdigest()
        if content is None or content.get("ids_sha256") != listed:
            check.add(
                Finding(
                    link.seq,
                    "archived_attempts",
                    link.ref,
                    "edited",
                    f"the attempts listed under archive {link.ref} (chain row {link.seq}) are "
                    "not the ones it archived",
                )
            )
    for archive in sorted(digests):
        check.add(
            Finding(
                None,
                "archived_attempts",
                archive,
                "inserted",
                f"attempts are listed under an archive at chain row {archive} that the chain "
                "does not hold: they were inserted",
            )
        )


@dataclass(frozen=True)
class Anchored:
    """Verification with an anchor file: the earlier anchors checked, this head appended."""

    verification: Verification
    path: str
    checked: int  # earlier anchors that matched
    appended: Anchor | None  # None: refused, the file left as it was

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.verification.as_dict(),
            "anchor_file": self.path,
            "anchors_checked": self.checked,
            "anchored": None if self.appended is None else self.appended.text(),
        }


def verify_anchored(reader: AnchorReader, path: Path) -> Anchored:
    """Verify, check the chain against every anchor in ``path``, and append the head if all hold.

    AnchorError (nothing written) if the file is not an anchor file.
    """
    anchors = anchor.read(path)
    result = verify(reader)
    finding = anchor.check(path, anchors, reader.chain_hash_at, result.head)
    if finding is not None:
        findings = sorted([*result.findings, finding], key=Finding.order)
        result = Verification(result.head, result.recorded, result.rows, findings)
    if not result.ok:
        return Anchored(result, str(path), 0, None)
    return Anchored(result, str(path), len(anchors), anchor.append(path, result.head))
