"""syndicate ledger copy: SQLite → PostgreSQL → SQLite, every row the same, verified."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from syndicate.approval import Decision
from syndicate.audit.verify import verify
from syndicate.store import open_store
from syndicate.store.base import AttemptFilter, AttemptRecord, DeliveryState, Gate, Next, Outcome
from syndicate.store.copy import fingerprint
from syndicate.store.sqlstore import SqlStore
from tests.unit.test_store import ok, record

pytestmark = pytest.mark.integration


def fill(url: str) -> None:
    """A ledger with some of everything: delivered, retried, dead, pending; a circuit."""
    s = open_store(url)
    try:
        for i in range(30):
            s.accept(
                record(f"N-{i:02d}", digest=f"{i:02d}" * 32, publish_at=1.7e9), ["a", "b"], 1.7e9
            )
        claims = s.claim("w1", 1.7e9 + 10, 30, 100)
        fail = AttemptRecord(
            1.7e9 + 10, 1.7e9 + 11, Outcome.transient, "TransientDeliveryError", "503", "503"
        )
        results = []
        for i, c in enumerate(claims):
            if i % 3 == 0:
                results.append((c, fail, Next(DeliveryState.pending, 1.7e9 + 20)))
            elif i % 7 == 0:
                results.append((c, fail, Next(DeliveryState.dead)))
            else:
                results.append((c, ok(1.7e9 + 11), Next(DeliveryState.delivered)))
        s.record_many("w1", results)
        s.circuit_failure("b", Gate(2, 5, 60), 1.7e9 + 12, "w1")
        # Approvals: one version passed both steps, one waits for its second.
        steps = ("科室负责人", "分管领导")
        for i in (30, 31):
            waiting = replace(record(f"N-{i}", digest=f"{i}" * 32), approval_steps=steps)
            s.accept(waiting, ["a"], 1.7e9 + 13)
        for i, step in ((30, steps[0]), (30, steps[1]), (31, steps[0])):
            s.decide(f"N-{i}", 1, step, Decision.approved, approver="李", digest=f"{i}" * 32,
                     now=1.7e9 + 14, comment="同意", via="oa")  # fmt: skip
    finally:
        s.close()


def syndicate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def snapshot(url: str) -> tuple[object, ...]:
    s = open_store(url)
    try:
        assert isinstance(s, SqlStore)
        return (
            fingerprint(s),
            s.counts(),
            [(d.notice_id, d.channel, d.state, d.attempts) for d in s.deliveries()],
            [a.__dict__ for a in s.attempts(AttemptFilter())],
            s.year_counts(2023),
        )
    finally:
        s.close()


def test_copy_to_postgresql_and_back_changes_nothing(tmp_path: Path, pg_url: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    fill(first)
    result = syndicate("ledger", "copy", first, pg_url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "attempts" in result.stdout
    assert "same in both" in result.stdout
    original = snapshot(first)
    assert snapshot(pg_url) == original
    back = f"sqlite:///{tmp_path / 'back.db'}"
    result = syndicate("ledger", "copy", pg_url, back, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert snapshot(back) == original

    # The copy is a working ledger whose hash chain still holds; new rows follow the copied ids.
    pg = open_store(pg_url)
    try:
        assert verify(pg).ok
        pg.accept(record("N-new"), ["a"], 1.7e9 + 30)
        claimed = pg.claim("w2", 1.7e9 + 30, 30, 100)
        assert {c.notice_id for c in claimed} >= {"N-new"}
        assert all(c.delivery_id <= 62 for c in claimed)  # 61 copied, one new
    finally:
        pg.close()


def test_copy_into_a_ledger_with_notices_is_refused(tmp_path: Path, pg_url: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    fill(first)
    fill(pg_url)
    result = syndicate("ledger", "copy", first, pg_url, cwd=tmp_path)
    assert result.returncode == 4
    assert "the target ledger is not empty" in result.stderr
    assert "Traceback" not in result.stderr
