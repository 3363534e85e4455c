"""The ledger's disk fills up, or another process locks it: a clear error, no loss, resume."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import StoreError, Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import DeliveryState
from syndicate.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB filesystem of its own (tmpfs): filling it fills nothing else."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``."""
    filler = disk / "filler"
    # Unbuffered: a write the disk cannot take leaves nothing behind for close() to fail on.
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                pass
    return filler


def config(disk: Path, url: str) -> str:
    return f"""
store: {{url: {disk}/ledger.db}}
worker: {{poll_interval: 20ms, lease: 30s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 5, initial_delay: 20ms, jitter: 0s}}
channels:
  trading-website: {{adapter: cms_http, url: {url}/site}}
routes: [{{channels: [trading-website]}}]
"""


def test_a_full_disk_is_a_clear_error_and_the_worker_resumes_when_space_returns(
    small_disk: Path,
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    path = write_config(config(small_disk, sink.url))
    with Syndicator.from_config(path) as s:
        for i in range(20):
            s.enqueue(make_notice(id=f"N-{i:03d}"))
        filler = fill(small_disk)
        refused: StoreError | None = None
        for i in range(20, 200):  # the WAL may still hold a page or two
            try:
                s.enqueue(make_notice(id=f"N-{i:03d}"))
            except StoreError as exc:
                refused = exc
                break
        assert refused is not None
        assert "disk is full" in str(refused)
        # The command line says the same in one line, exit code 4.
        cli = subprocess.run(
            [sys.executable, "-m", "syndicate", "-c", str(path), "enqueue", "-"],
            input=str(make_notice(id="N-CLI")).replace("'", '"'),
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 4, cli.stderr
        assert "disk is full" in cli.stderr
        assert "Traceback" not in cli.stderr

        # A worker started on the full disk waits; it delivers once space returns.
        done = threading.Event()
        result: list[bool] = []

        def work() -> None:
            with Syndicator.from_config(path) as w:
                result.append(w.drain(timeout=60))
            done.set()

        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(1.0)
        filler.unlink()
        worker.join(timeout=90)
        assert done.is_set()
        assert result == [True]
        accepted = {d.notice_id for d in s.store.deliveries()}
        states = {d.state for d in s.store.deliveries()}
    assert {f"N-{i:03d}" for i in range(20)} <= accepted  # nothing accepted was lost
    assert states == {DeliveryState.delivered}
    assert len(sink.requests) == len(accepted) + sink.duplicates
    store = SqliteStore(small_disk / "ledger.db")
    assert store.integrity_check() == "ok"
    store.close()


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def hold_lock(ledger: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(ledger), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_locked_ledger_is_a_clear_error_and_the_worker_waits_it_out(
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    path = write_config(config(tmp_path, sink.url))
    with Syndicator.from_config(path) as s:
        for i in range(10):
            s.enqueue(make_notice(id=f"N-{i:03d}"))
        before = s.store.deliveries()
        # Longer than the 5 s the store waits for a lock: enqueue gives up, clearly.
        holder = hold_lock(tmp_path / "ledger.db", 7)
        with pytest.raises(StoreError, match="locked by another process"):
            s.enqueue(make_notice(id="N-LOCKED"))
        holder.communicate()
        assert s.store.deliveries() == before
        # A worker that meets the lock backs off and delivers once it is released.
        holder = hold_lock(tmp_path / "ledger.db", 7)
        assert s.drain(timeout=60)
        holder.communicate()
        states = {d.state for d in s.store.deliveries()}
    assert states == {DeliveryState.delivered}
    # It did meet the lock, and said so.
    assert any("locked by another process" in r.getMessage() for r in caplog.records)
