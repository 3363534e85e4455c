"""No peer can exhaust the worker or hold it past its limits.

Real hostile servers on loopback (tests/peers/hostile.py) stream endless
SMTP replies, an endless SSH banner and an endless HTTP body, or drip one
byte every two seconds. The worker's memory stays under a fixed ceiling
while they stream for more than ten seconds; a channel's timeout ends the
attempt at the socket (the peer sees the connection close); SIGTERM stops
the worker within its grace period even while a blocking send is stuck.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from syndicate.syndicator import Syndicator
from tests.conftest import BASE_NOTICE
from tests.peers.hostile import HostilePeer

pytestmark = pytest.mark.integration

RSS_CEILING = 400 << 20  # bytes; the worker itself needs ~100 MB
STREAM_SECONDS = 11
GRACE = 1.0


def notice(i: int = 1) -> dict[str, object]:
    data = copy.deepcopy(BASE_NOTICE)
    data.update(id=f"HYZB-2026-{i:04d}", publish_at="2024-01-01T09:00:00+08:00")
    return data


def mail(port: int, timeout: str) -> str:
    return f"""
    adapter: email_inbox
    host: 127.0.0.1
    port: {port}
    security: none
    from_address: ggzy@heyuan.gov.cn
    to: [tougao@hywb.cn]
    socket_timeout: 120s
    timeout: {timeout}"""


@pytest.mark.timeout(120)
def test_memory_stays_bounded_and_sigterm_stops_a_stuck_worker(tmp_path: Path) -> None:
    with (
        HostilePeer("flood_smtp") as smtp,
        HostilePeer("flood_ssh") as ssh,
        HostilePeer("flood_http") as http,
        HostilePeer("drip") as drip,
    ):
        (tmp_path / "channels.yaml").write_text(
            f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: {GRACE}s, lease: 300s}}
defaults:
  retry: {{max_attempts: 1000, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
  circuit_breaker: {{failures: 1000}}
channels:
  smtp-flood:{mail(smtp.port, "5s")}
  ssh-flood:
    adapter: sftp_inbox
    host: 127.0.0.1
    port: {ssh.port}
    username: ggzy
    password: not-used-4711
    host_key: SHA256:7Qm2nY0qPZ0lG7f3sV3y1bX0wq2c5m8dJ4rTzK6uH1E
    directory: /inbox
    connect_timeout: 30s
    timeout: 5s
  http-flood:
    adapter: cms_http
    url: http://127.0.0.1:{http.port}/n
    timeout: 5s
  stuck:{mail(drip.port, "200s")}
routes:
  - channels: [smtp-flood, ssh-flood, http-flood, stuck]
""",
            encoding="utf-8",
        )
        (tmp_path / "n.json").write_text(json.dumps(notice()), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
        run = lambda *a: subprocess.run(  # noqa: E731
            [sys.executable, "-m", "syndicate", *a], cwd=tmp_path, env=env, check=False
        )
        assert run("enqueue", "n.json").returncode == 0
        errors = (tmp_path / "worker.err").open("w")  # a file: a full pipe would block the worker
        worker = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "syndicate", "run", "-q"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            process = psutil.Process(worker.pid)
            peak = 0
            started = time.monotonic()
            while time.monotonic() - started < STREAM_SECONDS:
                assert worker.poll() is None, (tmp_path / "worker.err").read_text()
                peak = max(peak, process.memory_info().rss)
                assert peak < RSS_CEILING, f"worker RSS {peak >> 20} MB"
                time.sleep(0.2)
            assert smtp.connections > 1
            assert ssh.connections > 1
            assert http.connections > 1
            assert drip.connections == 1  # still stuck in its one attempt

            worker.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            try:
                worker.wait(timeout=GRACE + 10)
            except subprocess.TimeoutExpired:
                worker.send_signal(signal.SIGABRT)
                worker.wait()
                raise AssertionError(
                    "the worker did not stop:\n" + (tmp_path / "worker.err").read_text()[-5000:]
                ) from None
            assert time.monotonic() - stopped < GRACE + 5
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            errors.close()
        # The stuck send was cut at its socket, not left behind.
        assert drip.closed_at


@pytest.mark.timeout(60)
def test_a_channel_timeout_ends_the_read_at_the_socket(tmp_path: Path) -> None:
    with HostilePeer("drip") as drip:
        (tmp_path / "channels.yaml").write_text(
            f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 1s, lease: 30s}}
defaults: {{retry: {{max_attempts: 1}}}}
channels:
  slow:{mail(drip.port, "1s")}
routes:
  - channels: [slow]
""",
            encoding="utf-8",
        )
        with Syndicator.from_config(tmp_path / "channels.yaml") as syndicator:
            syndicator.enqueue(notice())
            syndicator.drain(timeout=20)
            [delivery] = syndicator.store.deliveries()
            timed_out = time.monotonic()
        assert delivery.state.value == "dead"
        assert "within 1s" in str(delivery.last_error)
        # The peer sees the connection close at once, though its socket timeout is 120 s.
        deadline = time.monotonic() + 5
        while not drip.closed_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert drip.closed_at, "the worker is still reading from the peer"
        assert drip.closed_at[0] - timed_out < 3
