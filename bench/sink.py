"""The benchmark's HTTP sink: a raw asyncio HTTP/1.1 server that answers 200 to everything.

Run in its own process (``python -m bench.sink``) so its CPU is not the
contenders' and can be measured apart. Keep-alive, ``Content-Length`` and
chunked bodies, ``{"id": "<n>"}`` as the answer (cms_http takes its remote
id from it). A second port is a black hole: it accepts TCP connections,
reads whatever comes, and never answers.

On start it prints one line, ``PORTS <sink> <black hole>``; ``GET /_stats``
answers ``{"requests": n}``; SIGTERM or a closed stdin stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from types import TracebackType

_HEAD_LIMIT = 64 * 1024


class _Counter:
    requests = 0


async def _read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> None:
    length = headers.get(b"content-length")
    if length is not None:
        await reader.readexactly(int(length))
        return
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                return
            lines = head.split(b"\r\n")
            _method, path, version = lines[0].split(b" ", 2)
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            await _read_body(reader, headers)
            if path == b"/_stats":
                body = json.dumps({"requests": _Counter.requests}).encode()
            else:
                _Counter.requests += 1
                body = b'{"id":"%d"}' % _Counter.requests
            close = headers.get(b"connection", b"").lower() == b"close" or version == b"HTTP/1.0"
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n%s\r\n%s"
                % (len(body), b"Connection: close\r\n" if close else b"", body)
            )
            await writer.drain()
            if close:
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


async def _black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Read and discard so the client's send never blocks; answer nothing, ever.
    with contextlib.suppress(ConnectionError):
        while await reader.read(65536):
            pass
    writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=1024, limit=_HEAD_LIMIT)
    hole = await asyncio.start_server(_black_hole, "127.0.0.1", 0, backlog=1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # The parent going away (stdin closed) stops the sink too.
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    port = server.sockets[0].getsockname()[1]
    hole_port = hole.sockets[0].getsockname()[1]
    print(f"PORTS {port} {hole_port}", flush=True)
    await stop.wait()
    server.close()
    hole.close()


class SinkProcess:
    """The sink as a child process: its ports, its request count, its CPU time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sink"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORTS":
            self.proc.kill()
            raise RuntimeError("the benchmark sink did not start")
        self.port, self.hole_port = int(line[1]), int(line[2])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU the sink has used so far."""
        import psutil  # type: ignore[import-untyped]

        times = psutil.Process(self.proc.pid).cpu_times()
        return float(times.user + times.system)

    def requests(self) -> int:
        import httpx

        with httpx.Client(trust_env=False) as client:
            return int(client.get(f"{self.url}/_stats").json()["requests"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SinkProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
