"""What every read model shares: times as text, opaque cursors, pages, notice references."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from ..errors import Problem, QueryError
from ..isotime import iso as iso  # where the read models have always found it

DEFAULT_PAGE = 50
MAX_PAGE = 500


class _AsDict(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=_AsDict)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a newest-first list; ``next_cursor`` continues it, None at the end."""

    items: tuple[T, ...]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"items": [i.as_dict() for i in self.items], "next_cursor": self.next_cursor}


def encode_cursor(kind: str, key: int) -> str:
    """An opaque cursor: which list it continues and the last key seen."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    """The key a cursor of ``kind`` continues after; QueryError if it is not one of ours."""
    if cursor is None or cursor == "":
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found, _, key = text.partition(":")
        if found == kind and key.isdigit():
            return int(key)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise QueryError([Problem("cursor", f"not a cursor of this {kind} list")])


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise QueryError([Problem("limit", f"must be between 1 and {MAX_PAGE}")])
    return limit


R = TypeVar("R")


def paginate(
    kind: str,
    fetch: Callable[[int | None, int], Sequence[R]],
    key: Callable[[R], int],
    build: Callable[[R], T],
    cursor: str | None,
    limit: int | None,
) -> Page[T]:
    """Fetch one more row than asked: its presence says whether a next page exists."""
    size = page_size(limit)
    rows = list(fetch(decode_cursor(kind, cursor), size + 1))
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor(kind, key(rows[-1])) if more and rows else None
    return Page(tuple(build(r) for r in rows), next_cursor)


_VERSIONED = re.compile(r"^(?P<id>.+)\.v(?P<version>[1-9][0-9]*)$")


@dataclass(frozen=True)
class NoticeRef:
    """A notice as people name it: ``ID`` (every version) or ``ID.vN`` (one version)."""

    id: str
    version: int | None = None

    def __str__(self) -> str:
        return self.id if self.version is None else f"{self.id}.v{self.version}"


def parse_notice_ref(text: str, exists: Callable[[str], bool] | None = None) -> NoticeRef:
    """Read ``ID`` or ``ID.vN``, the form the CLI prints.

    An id may itself end in ``.v2``; when ``exists`` says a notice has the whole
    text as its id, that notice is meant.
    """
    text = text.strip()
    match = _VERSIONED.match(text)
    if match is None or (exists is not None and exists(text)):
        return NoticeRef(text)
    return NoticeRef(match["id"], int(match["version"]))
