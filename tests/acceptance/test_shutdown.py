"""SIGTERM: in-flight attempts get the grace period, then are recorded and released."""

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


def test_attempts_past_the_grace_period_are_recorded_as_interrupted_and_released(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/slow", [Reply(200, delay=30)] * 3)
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 500ms, lease: 2m}}
channels:
  slow-portal: {{adapter: cms_http, url: {sink.url}/slow, timeouts: {{read: 60s}}}}
routes: [{{channels: [slow-portal]}}]
"""
    )
    for i in range(3):
        subprocess.run(
            [sys.executable, "-m", "syndicate", "-c", str(path), "enqueue", "-"],
            input=json.dumps(make_notice(id=f"N-{i}")),
            text=True,
            check=True,
            capture_output=True,
        )
    worker = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "-c", str(path), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 20
    while len(sink.requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(sink.requests) == 3
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    log = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "log", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    attempts = [json.loads(line) for line in log.stdout.splitlines()]
    assert len(attempts) == 3  # no attempt left unrecorded
    assert {a["outcome"] for a in attempts} == {"transient"}
    assert all("interrupted" in a["error_message"] for a in attempts)
    status = subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(path), "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    cells = [c for n in json.loads(status.stdout)["notices"] for c in n["channels"].values()]
    # Released, not held: the next worker takes them at once.
    assert {c["state"] for c in cells} == {"pending"}
