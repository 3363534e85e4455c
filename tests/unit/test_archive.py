"""Retention: old attempts archived to a file chained into the ledger; the proof survives."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from syndicate.audit.archive import ArchiveError, archive, check_archive
from syndicate.audit.verify import verify
from syndicate.store.base import AttemptFilter
from syndicate.store.sqlite import SqliteStore

from .test_chain import check, first, ledger, raw

__all__ = ["ledger"]


def archived(ledger: Path) -> Path:
    path = ledger.parent / "2025.attempts.gz"
    store = SqliteStore(ledger)
    try:
        done = archive(store, 200.0, path, 300.0)
    finally:
        store.close()
    assert (
        done.count == 2
    )  # attempts 1 and 3: their deliveries ended; 2 and 4 belong to a pending one
    assert done.head is not None
    assert done.head.seq == 11
    assert done.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    return path


def test_archived_attempts_leave_the_table_and_the_chain_still_verifies(ledger: Path) -> None:
    path = archived(ledger)
    store = SqliteStore(ledger)
    try:
        assert [a.id for a in store.attempts(AttemptFilter())] == [2, 4]
        result = verify(store)
        assert result.ok, result.findings
        assert result.head.seq == 11
        assert check_archive(store, path) == []
        # Nothing more to archive: no file, no link.
        again = archive(store, 200.0, ledger.parent / "again.gz", 400.0)
        assert again.head is None
        assert not (ledger.parent / "again.gz").exists()
    finally:
        store.close()


def test_an_altered_archive_is_refused(ledger: Path) -> None:
    path = archived(ledger)
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").replace('"w"', '"x"')
    path.write_bytes(gzip.compress(lines.encode("utf-8"), mtime=0))
    before = ledger.read_bytes()
    store = SqliteStore(ledger)
    try:
        with pytest.raises(ArchiveError, match="is in no archive link of this ledger"):
            check_archive(store, path)
        (ledger.parent / "junk.gz").write_bytes(b"not gzip")
        with pytest.raises(ArchiveError, match="not an archive"):
            check_archive(store, ledger.parent / "junk.gz")
    finally:
        store.close()
    assert ledger.read_bytes() == before


def test_an_archive_is_never_written_over(ledger: Path) -> None:
    path = archived(ledger)
    content = path.read_bytes()
    store = SqliteStore(ledger)
    try:
        head = store.chain_head()
        with pytest.raises(ArchiveError, match="exists; an archive is never written over"):
            archive(store, 10_000.0, path, 500.0)
        assert store.chain_head() == head
    finally:
        store.close()
    assert path.read_bytes() == content


def test_a_deleted_attempt_passed_off_as_archived_is_caught(ledger: Path) -> None:
    archived(ledger)
    raw(
        ledger,
        "INSERT INTO archived_attempts VALUES (2, 11); DELETE FROM attempts WHERE id = 2;",
    )
    assert first(ledger) == (11, "archived_attempts", 1, "edited")
    assert not check(ledger).ok


def test_an_archived_row_unlisted_is_caught(ledger: Path) -> None:
    archived(ledger)
    raw(ledger, "DELETE FROM archived_attempts WHERE attempt_id = 3;")
    findings = check(ledger).findings
    assert [(f.table, f.ref, f.change) for f in findings] == [
        ("attempts", 3, "deleted"),
        ("archived_attempts", 1, "edited"),
    ]
