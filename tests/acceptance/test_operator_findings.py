"""What a new operator ran into, each held by a test: the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from syndicate.demo.http_sink import HttpSink, Reply

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = [
    "trading-website",
    "city-portal",
    "land-market",
    "nanfang-daily",
    "led-hall",
    "led-gate",
]


def syndicate(*args: str, cwd: Path, columns: int = 200) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("SYNDICATE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "syndicate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def six(tmp_path: Path, sink: HttpSink) -> Path:
    """Six HTTP channels that every notice goes to."""
    channels = "\n".join(
        f"  {name}: {{adapter: cms_http, url: {sink.url}/{name}}}" for name in CHANNELS
    )
    (tmp_path / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
defaults: {{retry: {{max_attempts: 3, initial_delay: 20ms, jitter: 0s}}}}
channels:
{channels}
routes:
  - channels: [{", ".join(CHANNELS)}]
""",
        encoding="utf-8",
    )
    return tmp_path


def enqueue(site: Path, make_notice: Any, *ids: str) -> None:
    for notice_id in ids:
        (site / f"{notice_id}.json").write_text(
            json.dumps(make_notice(id=notice_id), ensure_ascii=False), encoding="utf-8"
        )
        result = syndicate("enqueue", f"{notice_id}.json", cwd=site)
        assert result.returncode == 0, result.stderr


def test_status_shows_every_channel_at_80_columns(six: Path, make_notice: Any) -> None:
    enqueue(six, make_notice, "HYZB-2026-0001", "HYZB-2026-0002")
    assert syndicate("run", "--once", "-q", cwd=six).returncode == 0
    for columns in (80, 100):
        result = syndicate("status", cwd=six, columns=columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert all(len(line) <= columns for line in lines), result.stdout
        rows = [line for line in lines if "HYZB-2026-000" in line]
        assert len(rows) == 2, result.stdout
        for row in rows:
            assert row.count("✔") == len(CHANNELS), result.stdout
        for name in CHANNELS:  # the key under the table names every numbered column
            assert name in result.stdout
    wide = syndicate("status", cwd=six, columns=200)
    header = next(line for line in wide.stdout.splitlines() if "notice" in line)
    assert all(name in header for name in CHANNELS)


def test_run_summary_counts_deliveries_as_status_does(
    six: Path, sink: HttpSink, make_notice: Any
) -> None:
    sink.script("/city-portal", [Reply(503, headers={"Retry-After": "600"})])
    enqueue(six, make_notice, "HYZB-2026-0001")
    run = syndicate("run", "--once", "-q", cwd=six)
    assert run.returncode == 0, run.stderr
    assert "6 deliveries: 1 pending, 5 delivered (6 attempts)" in run.stderr
    status = json.loads(syndicate("status", "--json", cwd=six).stdout)
    pending = sum(c.get("pending", 0) for c in status["counts"].values())
    assert pending == 1


def test_log_and_status_take_the_printed_notice_form(six: Path, make_notice: Any) -> None:
    enqueue(six, make_notice, "HYZB-2026-0001")
    syndicate("run", "--once", "-q", cwd=six)
    (six / "v2.json").write_text(
        json.dumps(make_notice(version=2, nature="correction"), ensure_ascii=False),
        encoding="utf-8",
    )
    assert syndicate("enqueue", "v2.json", cwd=six).returncode == 0
    syndicate("run", "--once", "-q", cwd=six)
    one = syndicate("log", "--json", "--notice", "HYZB-2026-0001.v1", cwd=six)
    assert one.returncode == 0, one.stderr
    attempts = [json.loads(line) for line in one.stdout.splitlines()]
    assert len(attempts) == len(CHANNELS)
    assert {a["version"] for a in attempts} == {1}
    both = syndicate("log", "--json", "--notice", "HYZB-2026-0001", cwd=six)
    assert len(both.stdout.splitlines()) == 2 * len(CHANNELS)
    status = json.loads(
        syndicate("status", "--json", "--notice", "HYZB-2026-0001.v2", cwd=six).stdout
    )
    assert [(n["id"], n["version"]) for n in status["notices"]] == [("HYZB-2026-0001", 2)]


SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_upstream_client_example_under_the_system_python(tmp_path: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "the system Python (/usr/bin/python3) is needed for this test"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    example = ROOT / "examples" / "upstream_client.py"
    # From the checkout: the example finds the project's virtual environment and runs there.
    ran = subprocess.run(
        [str(SYSTEM_PYTHON), str(example)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("accepted: HYJS-2026-0318.v1 → trading-website")
    # Alone, without the environment: one line saying what to do, no traceback.
    alone = tmp_path / "copy" / "examples"
    alone.mkdir(parents=True)
    shutil.copy(example, alone / "upstream_client.py")
    lonely = subprocess.run(
        [str(SYSTEM_PYTHON), str(alone / "upstream_client.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert lonely.returncode == 1
    assert "Traceback" not in lonely.stderr
    assert "pip install -e ." in lonely.stderr


def test_channels_pause_and_resume(six: Path, make_notice: Any) -> None:
    assert syndicate("pause", "city-portal", cwd=six).stdout.strip() == "city-portal paused"
    enqueue(six, make_notice, "HYZB-2026-0001")
    assert syndicate("run", "--once", "-q", cwd=six).returncode == 0
    health = json.loads(syndicate("channels", "--json", cwd=six).stdout)
    portal = next(c for c in health["channels"] if c["name"] == "city-portal")
    assert portal["paused"] is True
    assert portal["backlog"] == 1
    site = next(c for c in health["channels"] if c["name"] == "trading-website")
    assert site["success_1h"] == {"attempts": 1, "delivered": 1, "rate": 1.0}
    table = syndicate("channels", cwd=six, columns=100)
    assert "paused" in table.stdout
    assert syndicate("resume", "city-portal", cwd=six).stdout.strip() == "city-portal resumed"
    assert syndicate("run", "--once", "-q", cwd=six).returncode == 0
    health = json.loads(syndicate("channels", "--json", cwd=six).stdout)
    assert all(c["backlog"] == 0 for c in health["channels"])
    unknown = syndicate("pause", "no-such-channel", cwd=six)
    assert unknown.returncode == 1
    assert "unknown channel 'no-such-channel'" in unknown.stderr
