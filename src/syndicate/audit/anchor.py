"""Anchors: the chain's head written down elsewhere, so a rewritten ledger cannot pass as the same.

An anchor file holds one line per anchor, ``<UTC time> <seq> <hash>``, oldest
first; lines starting with ``#`` are comments. Anyone can keep a copy (print
it, mail it to the disciplinary office): a ledger rewritten from some row on,
even with every hash recomputed, no longer has the anchored hash at that row.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import SyndicateError
from .chain import Finding, Head

_LINE = re.compile(r"^(\S+)\s+(\d+)\s+([0-9a-f]{64})$")


class AnchorError(SyndicateError):
    """An anchor file cannot be read or does not match the ledger."""


@dataclass(frozen=True)
class Anchor:
    at: str  # ISO 8601, UTC
    seq: int
    hash: str
    line: int

    def text(self) -> str:
        return f"{self.at} {self.seq} {self.hash}"


def read(path: Path) -> list[Anchor]:
    """The anchors in ``path`` (none if it does not exist yet); AnchorError names a bad line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise AnchorError(f"{path}: cannot read the anchor file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AnchorError(f"{path}: not an anchor file (not UTF-8 text)") from None
    anchors = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise AnchorError(
                f"{path}:{number}: not an anchor line (expected '<UTC time> <seq> <sha256>')"
            )
        anchors.append(Anchor(match[1], int(match[2]), match[3], number))
    return anchors


def check(
    path: Path, anchors: list[Anchor], hash_at: Callable[[int], str | None], head: Head
) -> Finding | None:
    """The first anchor the chain no longer matches; ``hash_at(seq)`` is the chain's hash there."""
    for a in anchors:
        if a.seq > head.seq:
            return Finding(
                head.seq + 1,
                "anchor",
                a.line,
                "deleted",
                f"{path}:{a.line}: anchored at chain row {a.seq} on {a.at}, but the chain now "
                f"ends at row {head.seq}: rows were deleted",
            )
        found = hash_at(a.seq) if a.seq else None
        if a.seq and found != a.hash:
            return Finding(
                a.seq,
                "anchor",
                a.line,
                "edited",
                f"{path}:{a.line}: chain row {a.seq} does not have the hash anchored on {a.at}: "
                "the ledger was rewritten since",
            )
    return None


def append(path: Path, head: Head, now: datetime | None = None) -> Anchor:
    """Add the head to the anchor file, in one write that is flushed to disk."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    at = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    anchor = Anchor(at, head.seq, head.hash, 0)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        header = "# syndicate ledger anchors: <UTC time> <chain row> <sha256 of that row>\n"
        os.write(fd, ((header if new else "") + anchor.text() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return anchor
