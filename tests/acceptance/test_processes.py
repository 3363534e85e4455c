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
