"""Retention without losing proof: old attempts moved to a compressed file whose hash is chained.

``syndicate archive --before DATE FILE`` writes the attempts of ended
deliveries finished before DATE to FILE (gzip, JSON lines: a header, then
each attempt as the chain recorded it) and, in one transaction, chains an
``archive`` link holding the file's SHA-256 and a digest of the attempt ids,
lists the ids under it, and deletes the rows. Their own links stay in the
chain, so ``verify`` still passes and ``verify --archive FILE`` checks every
archived row against its link.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SyndicateError
from ..store.base import Store
from .chain import Finding, Head, canonical
from .events import attempt_body
from .verify import PAGE, _pages, _recorded

FORMAT = "syndicate-attempts-archive"


class ArchiveError(SyndicateError):
    """An archive cannot be written, or a file is not an archive of this ledger."""


@dataclass(frozen=True)
class Archived:
    path: str
    count: int
    file_sha256: str
    head: Head | None  # the archive's link; None when there was nothing to archive

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "attempts": self.count,
            "file_sha256": self.file_sha256,
            "link": None if self.head is None else self.head.as_dict(),
        }


def ids_digest(ids: Iterable[int]) -> str:
    """The digest of archived ids, ascending: what the archive's link holds of them."""
    h = hashlib.sha256()
    for i in ids:
        h.update(f"{i}\n".encode())
    return h.hexdigest()


def _lines(header: dict[str, Any], bodies: list[dict[str, Any]]) -> bytes:
    text = "".join(canonical(x) + "\n" for x in [header, *bodies])
    out = io.BytesIO()
    # mtime 0 and no name: the same rows give the same file, byte for byte.
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as z:
        z.write(text.encode("utf-8"))
    return out.getvalue()


def archive(store: Store, before: float, path: Path, now: float) -> Archived:
    """Move the attempts of ended deliveries finished before ``before`` into ``path``."""
    if path.exists():
        raise ArchiveError(f"{path} exists; an archive is never written over")
    rows = list(
        _pages(lambda a, n: store.archivable_attempts(before, a, n), lambda r: int(r["id"]))
    )
    if not rows:
        return Archived(str(path), 0, "", None)
    bodies = [attempt_body(r) for r in rows]
    ids = [int(b["id"]) for b in bodies]
    header = {"format": FORMAT, "version": 1, "before": before, "attempts": len(ids)}
    data = _lines(header, bodies)
    file_sha256 = hashlib.sha256(data).hexdigest()
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ArchiveError(f"{path}: cannot write the archive: {exc.strerror}") from None
    body = {
        "file": path.name,
        "file_sha256": file_sha256,
        "before": before,
        "attempts": len(ids),
        "first": ids[0],
        "last": ids[-1],
        "ids_sha256": ids_digest(ids),
    }
    try:
        head = store.archive_attempts(ids, {"archive": body}, now)
    except BaseException:
        path.unlink(missing_ok=True)  # nothing was archived: the file must not pass as an archive
        raise
    return Archived(str(path), len(ids), file_sha256, head)


def _read(path: Path) -> tuple[bytes, list[dict[str, Any]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read the archive: {exc.strerror}") from None
    try:
        lines = gzip.decompress(data).decode("utf-8").splitlines()
        records = [json.loads(line) for line in lines]
    except (OSError, EOFError, UnicodeDecodeError, ValueError):
        raise ArchiveError(f"{path}: not an archive (damaged or not gzip JSON lines)") from None
    if not records or not isinstance(records[0], dict) or records[0].get("format") != FORMAT:
        raise ArchiveError(f"{path}: not a syndicate archive")
    return data, records


def check_archive(store: Store, path: Path) -> list[Finding]:
    """Hold an archive file against the chain: its hash, then each row against its link.

    ArchiveError if the file is not an archive of this ledger or was altered.
    """
    data, records = _read(path)
    file_sha256 = hashlib.sha256(data).hexdigest()
    link = next(
        (
            x
            for x in _pages(lambda a, n: store.chain_links_of("archive", a, n), lambda x: x.ref)
            if _recorded_file(x.content()) == file_sha256
        ),
        None,
    )
    if link is None:
        raise ArchiveError(
            f"{path}: its SHA-256 {file_sha256[:16]}… is in no archive link of this ledger: "
            "the file was altered, or it is not from this ledger"
        )
    findings: list[Finding] = []
    rows = records[1:]
    listed = sorted(i for i, a in _pages(store.archived_attempts, lambda p: p[0]) if a == link.seq)
    if ids_digest(listed) != (_recorded(link, "archive") or {}).get("ids_sha256"):
        findings.append(
            Finding(
                link.seq,
                "archive",
                link.ref,
                "edited",
                f"the attempts listed under archive {link.ref} (chain row {link.seq}) "
                "are not the ones it archived",
            )
        )
    links = {x.ref: x for x in _attempt_links(store, [int(r["id"]) for r in rows])}
    for row in rows:
        ref = int(row["id"])
        recorded = links.get(ref)
        if recorded is None or canonical(_recorded(recorded, "attempt")) != canonical(row):
            findings.append(
                Finding(
                    recorded.seq if recorded else None,
                    "archive",
                    ref,
                    "edited",
                    f"archived attempt {ref} differs from its chain row",
                )
            )
    return findings


def _recorded_file(content: Any) -> str | None:
    archive = content.get("archive") if isinstance(content, dict) else None
    return archive.get("file_sha256") if isinstance(archive, dict) else None


def _attempt_links(store: Store, ids: list[int]) -> Iterator[Any]:
    """The attempt links of ``ids`` (ascending): pages from just below the first."""
    if not ids:
        return
    wanted = set(ids)
    after = ids[0] - 1
    while True:
        page = store.chain_links_of("attempt", after, PAGE)
        for x in page:
            if x.ref in wanted:
                yield x
        if len(page) < PAGE or page[-1].ref >= ids[-1]:
            return
        after = page[-1].ref
