"""``syndicate serve`` as an operator runs it: tokens from the CLI, SIGTERM drains API and worker."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate.demo.http_sink import HttpSink, Reply
from tests.conftest import closed_port
from tests.peers.http import TlsFiles

pytestmark = pytest.mark.acceptance


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syndicate", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def serving(
    config: Path, *args: str, ca_file: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``syndicate serve`` on a free port until the block ends (then killed if still up)."""
    port = closed_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "syndicate", "-c", str(config), "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/healthz", verify=verify).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _, err = process.communicate(timeout=10)
                raise AssertionError(f"syndicate serve did not come up: {err}")
            time.sleep(0.05)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def test_sigterm_drains_the_api_and_the_worker(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    sink.script("/slow", [Reply(200, delay=30)])
    config = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 500ms, lease: 2m}}
channels:
  slow-portal: {{adapter: cms_http, url: {sink.url}/slow, timeouts: {{read: 60s}}}}
routes: [{{channels: [slow-portal]}}]
"""
    )
    made = cli(config, "token", "create", "--name", "e-tendering", "--scope", "enqueue")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    with serving(config) as (process, url):
        r = httpx.post(
            f"{url}/v1/notices", json=make_notice(), headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 20
        while not sink.requests:
            assert time.monotonic() < deadline, "the worker in serve never sent the delivery"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "Application shutdown complete" in err
    log = cli(config, "log", "--json")
    (attempt,) = [json.loads(line) for line in log.stdout.splitlines()]
    assert attempt["error_message"] == "interrupted: the worker stopped during the attempt"
    status = json.loads(cli(config, "status", "--json").stdout)
    assert status["counts"] == {"slow-portal": {"pending": 1}}


def test_no_worker_serves_the_api_only(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    config = write_config(
        f"""
store: {{url: ledger.db}}
channels:
  portal: {{adapter: cms_http, url: {sink.url}/notices}}
routes: [{{channels: [portal]}}]
"""
    )
    token = cli(config, "token", "create", "--name", "ops", "--scope", "admin").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with serving(config, "--no-worker") as (process, url):
        assert httpx.post(f"{url}/v1/notices", json=make_notice(), headers=headers).is_success
        ready = httpx.get(f"{url}/readyz", headers=headers).json()
        assert ready["worker"] == "not in this process"
        time.sleep(0.5)  # a worker in this process would have delivered by now
        assert sink.requests == []
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
    assert cli(config, "run", "--once").returncode == 0
    assert len(sink.requests) == 1


def test_token_commands(write_config: Callable[[str], Path], sink: HttpSink) -> None:
    config = write_config(
        f"channels: {{portal: {{adapter: cms_http, url: {sink.url}/n}}}}\n"
        "store: {url: ledger.db}\n"
    )
    made = cli(config, "token", "create", "--name", "grafana", "--scope", "read")
    assert made.returncode == 0
    assert made.stdout.startswith("syn_")
    assert "shown once" in made.stderr
    again = cli(config, "token", "create", "--name", "grafana", "--scope", "read")
    assert again.returncode == 1
    assert "a token called 'grafana' exists; revoke it first" in again.stderr
    (listed,) = [json.loads(x) for x in cli(config, "token", "list", "--json").stdout.splitlines()]
    assert listed["scopes"] == ["read"]
    assert made.stdout.strip() not in json.dumps(listed)
    assert cli(config, "token", "revoke", "grafana").returncode == 0
    gone = cli(config, "token", "revoke", "grafana")
    assert gone.returncode == 1
    assert "no live token called 'grafana'" in gone.stderr
    assert os.path.exists(config.parent / "ledger.db")


def test_tls_with_uvicorns_certificate_options(
    tls_files: TlsFiles, write_config: Callable[[str], Path], sink: HttpSink
) -> None:
    config = write_config(
        f"channels: {{portal: {{adapter: cms_http, url: {sink.url}/n}}}}\n"
        "store: {url: ledger.db}\n"
    )
    tls = ("--ssl-certfile", str(tls_files.cert_file), "--ssl-keyfile", str(tls_files.key_file))
    with serving(config, "--no-worker", *tls, ca_file=tls_files.ca_file) as (process, url):
        assert url.startswith("https://")
        trusted = ssl.create_default_context(cafile=tls_files.ca_file)
        answer = httpx.get(f"{url}/healthz", verify=trusted)
        assert answer.json() == {"status": "ok"}
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz")  # not trusted without the CA: it is really TLS
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
