"""``syndicate run --processes N``: workers share one ledger; a signal drains them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate.demo.http_sink import HttpSink, Reply

pytestmark = pytest.mark.acceptance


def cli(path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), *args],
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


def enqueue(path: Path, notices: list[dict[str, Any]]) -> None:
    cli(path, "enqueue", "-", stdin="\n".join(json.dumps(n) for n in notices))


def test_two_processes_deliver_each_delivery_once(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
channels:
  portal: {{adapter: cms_http, url: {sink.url}/p, concurrency: 4}}
  website: {{adapter: cms_http, url: {sink.url}/w, concurrency: 4}}
routes: [{{channels: [portal, website]}}]
"""
    )
    enqueue(path, [make_notice(id=f"N-{i}") for i in range(12)])
    cli(path, "run", "--processes", "2", "--once", "--quiet")
    keys = [r.headers["idempotency-key"] for r in sink.requests]
    assert len(keys) == 24
    assert len(set(keys)) == 24  # no delivery sent by both processes
    status = json.loads(cli(path, "status", "--json").stdout)
    cells = [c for n in status["notices"] for c in n["channels"].values()]
    assert {c["state"] for c in cells} == {"delivered"}


def test_sigterm_to_the_supervisor_drains_every_worker(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/slow", [Reply(200, delay=30)] * 4)
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 500ms, lease: 2m}}
channels:
  slow-portal: {{adapter: cms_http, url: {sink.url}/slow, timeouts: {{read: 60s}}}}
routes: [{{channels: [slow-portal]}}]
"""
    )
    enqueue(path, [make_notice(id=f"N-{i}") for i in range(4)])
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "-c", str(path), "run", "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 30
    while len(sink.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sink.requests) == 4
    supervisor.send_signal(signal.SIGTERM)
    _, err = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, err
    assert "Traceback" not in err
    attempts = [json.loads(line) for line in cli(path, "log", "--json").stdout.splitlines()]
    assert len(attempts) == 4  # every worker recorded what it had in flight
    assert all("interrupted" in a["error_message"] for a in attempts)
    status = json.loads(cli(path, "status", "--json").stdout)
    cells = [c for n in status["notices"] for c in n["channels"].values()]
    assert {c["state"] for c in cells} == {"pending"}


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def test_a_killed_worker_is_started_again_and_the_work_gets_done(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 500ms, lease: 3s}}
defaults: {{timeout: 2s}}
channels:
  portal: {{adapter: cms_http, url: {sink.url}/p, concurrency: 2}}
routes: [{{channels: [portal]}}]
"""
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "-c", str(path), "run", "--processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 30
        while len(first := _children(supervisor.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(first) == 2
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        while (
            len(now := _children(supervisor.pid)) < 2 or victim in now
        ) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert victim not in now  # a new worker took its place
        assert len(now) == 2
        # Both the survivor and the new worker take work: the portal's 2 slots are 1 each.
        enqueue(path, [make_notice(id=f"N-{i}") for i in range(6)])
        while len(sink.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sink.requests) == 6
    finally:
        supervisor.send_signal(signal.SIGTERM)
        _, err = supervisor.communicate(timeout=30)
    assert supervisor.returncode == 0, err
    assert f"(pid {victim}) was killed by SIGKILL" in err
    assert "starting it again in 1s" in err
    assert "Traceback" not in err
    status = json.loads(cli(path, "status", "--json").stdout)
    cells = [c for n in status["notices"] for c in n["channels"].values()]
    assert {c["state"] for c in cells} == {"delivered"}
    workers = {
        json.loads(line)["worker"] for line in cli(path, "log", "--json").stdout.splitlines()
    }
    assert len(workers) == 2  # the restarted worker delivered too
