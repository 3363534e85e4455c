"""`run` and `serve` wait for a ledger server that does not answer yet, say so, then go on or fail.

The late server is a relay on a port of its own that starts listening only once
the worker has said it waits: what a worker sees while PostgreSQL restarts.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

from syndicate.cli import main

pytestmark = pytest.mark.integration

CONFIG = """
store: {{url: "{url}"}}
channels:
  trading-website:
    adapter: cms_http
    url: http://127.0.0.1:9/notices
routes:
  - channels: [trading-website]
"""


class LateRelay:
    """Forwards a loopback port to the real server, but only from ``open()`` on."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []

    def open(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for s in [*self._open, *([self._listener] if self._listener else [])]:
            s.close()


@pytest.fixture
def late_relay(pg_url: str) -> Iterator[tuple[LateRelay, str]]:
    parts = urlsplit(pg_url)
    relay = LateRelay((parts.hostname or "127.0.0.1", parts.port or 5432))
    netloc = (
        f"{parts.username}@127.0.0.1:{relay.port}" if parts.username else f"127.0.0.1:{relay.port}"
    )
    yield relay, parts._replace(netloc=netloc).geturl()
    relay.close()


def syndicate(config: Path, *args: str, stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", "-c", str(config), *args],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_worker_waits_for_a_server_that_starts_late_then_runs(
    late_relay: tuple[LateRelay, str], write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    relay, url = late_relay
    config = write_config(CONFIG.format(url=url))
    stderr = tmp_path / "run.err"
    worker = syndicate(config, "run", "--once", "--wait-for-ledger", "120", stderr=stderr)
    try:
        wait_for(lambda: "waiting up to 120s" in stderr.read_text(), "no word of waiting")
        assert worker.poll() is None
        relay.open()
        assert worker.wait(timeout=60) == 0, stderr.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    said = stderr.read_text()
    assert f"cannot open the ledger {url}: Connection refused; waiting up to 120s" in said
    assert f"the ledger {url} answers" in said
    assert "Traceback" not in said


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["-c", str(config), *args], env={"SYNDICATE_DEBUG": ""})


def test_serve_gives_up_after_its_wait_with_the_reason_exit_4(
    late_relay: tuple[LateRelay, str], write_config: Callable[[str], Path]
) -> None:
    _, url = late_relay  # never opened
    config = write_config(CONFIG.format(url=url))
    result = invoke(config, "serve", "--no-worker", "--port", "0", "--wait-for-ledger", "1")
    assert result.exit_code == 4, result.output
    assert "waiting up to 1s" in result.stderr
    assert f"error: cannot open the ledger {url}: Connection refused (waited 1s)" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_server_that_refuses_the_database_is_not_waited_for(
    pg_url: str, write_config: Callable[[str], Path]
) -> None:
    missing = pg_url.rpartition("/")[0] + "/no_such_ledger"
    config = write_config(CONFIG.format(url=missing))
    result = invoke(config, "run", "--wait-for-ledger", "600")
    # A missing database does not appear by waiting: the error comes at once.
    assert result.exit_code == 4, result.output
    assert 'database "no_such_ledger" does not exist' in result.stderr
    assert "waiting" not in result.stderr
