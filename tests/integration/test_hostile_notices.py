"""Hostile notices through `syndicate enqueue`: each refused in one located line, the ledger untouched.

Every file of tests/corpus/notices/ is enqueued against a configuration with
a real HttpSink channel whose ledger already holds delivered notices. Each
must be refused (exit 1, one line per problem naming the field, no
traceback) and the notices, deliveries and attempts already there must stay
exactly as they were. A running worker must not notice any of it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from syndicate.cli import main
from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import DeliveryState
from syndicate.syndicator import Syndicator
from tests.conftest import BASE_NOTICE

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "notices"
EXPECTED: dict[str, str] = yaml.safe_load((CORPUS / "EXPECTED.yaml").read_text(encoding="utf-8"))
TABLES = ("notices", "deliveries", "attempts")


def config_text(url: str) -> str:
    return f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 50ms, grace: 5s, lease: 10s}}
defaults:
  retry: {{max_attempts: 2, initial_delay: 50ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {url}/site
    timeout: 5s
  city-portal:
    adapter: cms_http
    url: {url}/portal
    timeout: 5s
routes:
  - channels: [trading-website, city-portal]
"""


def valid_notice(i: int) -> dict[str, Any]:
    data = copy.deepcopy(BASE_NOTICE)
    data["id"] = f"HYZB-2026-{i:04d}"
    data["project_code"] = f"HYZB2026-{i:03d}"
    data["publish_at"] = "2024-01-01T09:00:00+08:00"
    return data


def dump(folder: Path) -> list[str]:
    """Every row of the ledger's notices, deliveries and attempts, as SQL text."""
    db = sqlite3.connect(folder / "ledger.db")
    try:
        lines = []
        for table in TABLES:
            for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid"):
                lines.append(f"{table}: {row!r}")
        return lines
    finally:
        db.close()


def deliver_some(folder: Path, sink: HttpSink, count: int = 3) -> None:
    """Fill the ledger at ``folder`` with ``count`` notices, delivered to every channel."""
    with Syndicator.from_config(folder / "channels.yaml", env={}) as syndicator:
        for i in range(1, count + 1):
            syndicator.enqueue(valid_notice(i))
        assert syndicator.drain(timeout=60)
        states = {d.state for d in syndicator.store.deliveries()}
        assert states == {DeliveryState.delivered}
    assert len(sink.requests) == 2 * count


@pytest.fixture(scope="module")
def delivered_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with channels.yaml and a ledger holding three delivered notices."""
    folder = tmp_path_factory.mktemp("site")
    with HttpSink() as sink:
        (folder / "channels.yaml").write_text(config_text(sink.url), encoding="utf-8")
        deliver_some(folder, sink)
    return folder


@pytest.fixture
def site(delivered_site: Path, tmp_path: Path) -> Path:
    """A copy of the delivered site this test may write to."""
    for name in ("channels.yaml", "ledger.db"):
        shutil.copyfile(delivered_site / name, tmp_path / name)
    return tmp_path


def test_corpus_is_there() -> None:
    files = {p.name for p in CORPUS.glob("*.json")}
    assert len(files) >= 50
    assert files <= set(EXPECTED)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if (CORPUS / n).exists()))
def test_enqueue_refuses_in_one_line_per_problem(name: str, site: Path) -> None:
    before = dump(site)
    path = CORPUS / name

    result = CliRunner().invoke(
        main,
        ["-c", str(site / "channels.yaml"), "enqueue", str(path)],
        env={"COLUMNS": "400", "SYNDICATE_DEBUG": ""},
        catch_exceptions=True,
    )

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exit_code == 1, output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == "0 accepted, 1 refused", output
    refusals = lines[:-1]
    assert refusals, output
    for line in refusals:
        assert line.startswith(f"refused: {path}"), output
    assert any(EXPECTED[name] in line for line in refusals), f"{EXPECTED[name]!r} not in:\n{output}"
    assert dump(site) == before


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _syndicate(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        input=stdin,
        env={**env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(180)
def test_a_running_worker_outlives_a_flood_of_garbage(tmp_path: Path, http_sink: HttpSink) -> None:
    (tmp_path / "channels.yaml").write_text(config_text(http_sink.url), encoding="utf-8")
    deliver_some(tmp_path, http_sink)
    before = dump(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    log = (tmp_path / "worker.err").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "run"],
        cwd=tmp_path,
        env={**env, "COLUMNS": "400"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    try:
        _wait_for(
            lambda: (
                b"running" in (tmp_path / "worker.err").read_bytes() or worker.poll() is not None
            ),
            60,
            "the worker to start",
        )
        assert worker.poll() is None, (tmp_path / "worker.err").read_text()

        files = sorted(str(p) for p in CORPUS.glob("*.json") if p.name in EXPECTED)
        flood = _syndicate("enqueue", *files, cwd=tmp_path)
        # The same garbage on standard input, as JSON lines and as one blob.
        garbage = b"\n".join(
            Path(f).read_bytes().replace(b"\n", b" ") for f in files if Path(f).stat().st_size
        )
        piped = _syndicate("enqueue", "-", cwd=tmp_path, stdin=garbage.decode("utf-8", "replace"))

        for result in (flood, piped):
            assert "Traceback" not in result.stdout + result.stderr
            assert result.returncode == 1, result.stderr
            assert result.stderr.splitlines()[-1].startswith("0 accepted, ")
        for f in files:
            assert f"refused: {f}" in flood.stderr, f
        assert worker.poll() is None, (tmp_path / "worker.err").read_text()
        assert dump(tmp_path) == before
        assert len(http_sink.requests) == 6

        # Still alive and working: a good notice after the garbage is delivered.
        good = json.dumps(valid_notice(99), ensure_ascii=False)
        accepted = _syndicate("enqueue", "-", cwd=tmp_path, stdin=good)
        assert accepted.returncode == 0, accepted.stderr
        _wait_for(lambda: len(http_sink.requests) == 8, 60, "the good notice to be delivered")
        assert {r.headers["idempotency-key"] for r in http_sink.requests[-2:]} == {
            "HYZB-2026-0099.v1.trading-website",
            "HYZB-2026-0099.v1.city-portal",
        }
        assert worker.poll() is None
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
    err = (tmp_path / "worker.err").read_text(encoding="utf-8")
    assert "Traceback" not in err
    assert code == 0, err
