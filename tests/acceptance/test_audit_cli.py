"""syndicate verify as an auditor runs it: ok with the head, or the first tampered row."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from .test_cli import ENV, no_traceback, notice, site, syndicate


@pytest.fixture
def ledger_url() -> str:
    """These tests edit the SQLite file underneath, as a tamperer would: SQLite only."""
    return "ledger.db"


pytestmark = pytest.mark.acceptance
__all__ = ["site"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_anchor_and_tampering(site: Path, make_notice: Any) -> None:
    (site / "n.json").write_text(notice(make_notice, 1), encoding="utf-8")
    assert syndicate("enqueue", "n.json", cwd=site, env=ENV).returncode == 0
    assert syndicate("run", "--once", "-q", cwd=site, env=ENV).returncode == 0

    result = syndicate("verify", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "ok — 7 chain rows, head 7 "
    )  # notice, the 2 rules it breaks in warn mode, 2 deliveries, 2 attempts

    anchors = site / "anchors.txt"
    result = syndicate("verify", "--anchor", "anchors.txt", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    assert "anchored in anchors.txt" in result.stdout
    lines = anchors.read_text(encoding="utf-8").splitlines()
    assert lines[-1].split()[1:] == ["7", result.stdout.split()[7]]

    db = sqlite3.connect(site / "ledger.db", isolation_level=None)
    db.executescript(
        "DROP TRIGGER attempts_no_update;"
        "UPDATE attempts SET remote_url = 'https://elsewhere.example/1' WHERE id = 2;"
    )
    db.close()
    before = digest(anchors)
    for args in (("verify",), ("verify", "--anchor", "anchors.txt")):
        result = syndicate(*args, cwd=site, env=ENV)
        no_traceback(result)
        assert result.returncode == 1
        assert "tampered: attempt 2 differs from chain row 7 (remote_url): it was edited" in (
            result.stderr
        )
    assert digest(anchors) == before
    assert "anchors.txt left unchanged" in result.stderr


def test_verify_refuses_a_newer_ledger_and_a_foreign_anchor_file(site: Path) -> None:
    assert syndicate("verify", cwd=site, env=ENV).returncode == 0  # creates the ledger
    (site / "notes.txt").write_text("meeting at 10\n", encoding="utf-8")
    result = syndicate("verify", "--anchor", "notes.txt", cwd=site, env=ENV)
    no_traceback(result)
    assert result.returncode == 1
    assert "notes.txt:1: not an anchor line" in result.stderr
    assert (site / "notes.txt").read_text(encoding="utf-8") == "meeting at 10\n"

    db = sqlite3.connect(site / "ledger.db", isolation_level=None)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    before = digest(site / "ledger.db")
    result = syndicate("verify", "--anchor", "anchors.txt", cwd=site, env=ENV)
    no_traceback(result)
    assert result.returncode == 4
    assert "newer than this syndicate" in result.stderr
    assert digest(site / "ledger.db") == before
    assert not (site / "anchors.txt").exists()


def test_audit_shows_each_channel_against_the_canonical_notice(
    site: Path, make_notice: Any
) -> None:
    (site / "n.json").write_text(notice(make_notice, 7), encoding="utf-8")
    assert syndicate("enqueue", "n.json", cwd=site, env=ENV).returncode == 0
    assert syndicate("run", "--once", "-q", cwd=site, env=ENV).returncode == 0
    result = syndicate("audit", "HYZB-2026-0007", cwd=site, env=ENV)
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HYZB-2026-0007.v1" in result.stdout
    assert "consistent: every channel carries" in result.stdout
    as_json = syndicate("audit", "HYZB-2026-0007.v1", "--json", cwd=site, env=ENV)
    document = json.loads(as_json.stdout)
    assert [c["channel"] for c in document["channels"]] == ["trading-website", "city-portal"]
    assert all(c["payload_sha256"] == c["rendered_sha256"] for c in document["channels"])
    missing = syndicate("audit", "NOPE-1", cwd=site, env=ENV)
    no_traceback(missing)
    assert missing.returncode == 1
    assert "no notice NOPE-1 in the ledger" in missing.stderr


def test_audit_reads_an_id_that_holds_dot_v_as_every_command_does(
    site: Path, make_notice: Any
) -> None:
    # "HY.vehicles-7" is a valid id; cut at its ".v" it named no notice at all.
    (site / "n.json").write_text(
        json.dumps(make_notice(id="HY.vehicles-7"), ensure_ascii=False), encoding="utf-8"
    )
    assert syndicate("enqueue", "n.json", cwd=site, env=ENV).returncode == 0
    assert syndicate("run", "--once", "-q", cwd=site, env=ENV).returncode == 0
    for ref in ("HY.vehicles-7", "HY.vehicles-7.v1"):
        result = syndicate("audit", ref, cwd=site, env=ENV)
        no_traceback(result)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "HY.vehicles-7.v1" in result.stdout


def test_the_disclosure_report_is_the_same_file_on_every_run(site: Path, make_notice: Any) -> None:
    notices = [
        make_notice(id="HYZB-2026-0101"),
        make_notice(id="HYZB-2026-0101", version=2, nature="correction"),
        make_notice(id="HYZB-2026-0102"),
        make_notice(id="HYZB-2026-0102", version=2, nature="termination"),
        make_notice(id="HYZB-2026-0103", publish_at="2025-06-01T09:00:00+08:00"),
    ]
    (site / "n.jsonl").write_text(
        "\n".join(json.dumps(n, ensure_ascii=False) for n in notices), encoding="utf-8"
    )
    result = syndicate("enqueue", "-", cwd=site, env=ENV, stdin=(site / "n.jsonl").read_bytes())
    assert result.returncode == 0, result.stderr
    assert syndicate("run", "--once", "-q", cwd=site, env=ENV).returncode == 0

    outputs = []
    for run in (1, 2):
        result = syndicate(
            "report", "--year", "2026", "--csv", f"r{run}.csv", "--docx", f"r{run}.docx",
            cwd=site, env=ENV,
        )  # fmt: skip
        no_traceback(result)
        assert result.returncode == 0, result.stderr
        outputs.append(((site / f"r{run}.csv").read_bytes(), (site / f"r{run}.docx").read_bytes()))
    assert outputs[0] == outputs[1]  # byte-identical for the same ledger

    text = outputs[0][0].decode("utf-8-sig")
    rows = {line.split(",")[1]: line.split(",")[3] for line in text.splitlines()[1:]}
    assert rows["construction.original"] == "2"
    assert rows["construction.correction"] == "1"
    assert rows["construction.termination"] == "1"
    assert rows["construction.total"] == "4"
    assert rows["total"] == "4"  # the 2025 notice counts in 2025
    assert rows["corrections"] == "1"
    assert rows["terminations"] == "1"
    assert rows["approvals"] == ""  # not recorded, never a made-up zero
    # Each original was still pending when its correction or termination came in the
    # same batch: superseded, never sent, so each channel published two versions and
    # owes no more (the superseded ones are not due).
    assert rows["trading-website.delivered"] == "2"
    assert rows["city-portal.routed"] == "2"

    from docx import Document

    document = Document(str(site / "r1.docx"))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    assert "2026年度公告发布情况统计" in paragraphs
    assert "终止公告：1" in paragraphs
    first = document.tables[0]
    assert [c.text for c in first.rows[1].cells] == ["工程建设", "2", "1", "0", "1", "4"]

    as_json = json.loads(syndicate("report", "--year", "2026", "--json", cwd=site, env=ENV).stdout)
    assert as_json["disclosure"]["terminations"] == 1
    assert as_json["disclosure"]["notices"]["construction"]["total"] == 4


def test_archive_then_verify_against_it(site: Path, make_notice: Any) -> None:
    import gzip
    import time
    from datetime import UTC, datetime

    (site / "n.json").write_text(notice(make_notice, 9), encoding="utf-8")
    assert syndicate("enqueue", "n.json", cwd=site, env=ENV).returncode == 0
    assert syndicate("run", "--once", "-q", cwd=site, env=ENV).returncode == 0
    time.sleep(0.1)
    now = datetime.now(UTC).isoformat()
    result = syndicate("archive", "--before", now, "old.gz", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("archived 2 attempts to old.gz (sha256 ")
    result = syndicate("verify", "--archive", "old.gz", cwd=site, env=ENV)
    assert result.returncode == 0, result.stderr
    assert "archive old.gz: every row matches its chain row" in result.stdout
    assert syndicate("log", cwd=site, env=ENV).stdout.strip() == ""  # the rows left the ledger

    again = syndicate("archive", "--before", now, "old.gz", cwd=site, env=ENV)
    no_traceback(again)
    assert again.returncode == 1
    assert "old.gz exists; an archive is never written over" in again.stderr
    future = syndicate("archive", "--before", "2999-01-01", "f.gz", cwd=site, env=ENV)
    assert future.returncode == 2
    assert "an archive holds the past" in future.stderr

    altered = gzip.decompress((site / "old.gz").read_bytes()).replace(b'"200"', b'"500"')
    (site / "old.gz").write_bytes(gzip.compress(altered, mtime=0))
    result = syndicate("verify", "--archive", "old.gz", cwd=site, env=ENV)
    no_traceback(result)
    assert result.returncode == 1
    assert "the file was altered, or it is not from this ledger" in result.stderr
