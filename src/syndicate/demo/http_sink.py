"""A loopback HTTP(S) server that takes pushed notices: the demo's CMS and a test peer.

By default it answers every request the way a well-behaved CMS does: ``200``
with ``{"id": ..., "url": ...}``, the id derived from the ``Idempotency-Key``
header, so a repeated key gets the same id and is counted as a duplicate.
``script`` makes it misbehave on demand, per path: error statuses, delays,
requests that never get an answer, connections reset mid-response, bodies
that are not JSON.
"""

from __future__ import annotations

import hashlib
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``body`` None means the default body: the JSON receipt for a 2xx status,
    ``{"error": <reason>}`` otherwise. ``reset="before"`` closes the connection
    with a TCP RST instead of answering; ``reset="mid"`` sends the status line,
    the headers and half the body first. ``hang`` never answers until the sink
    stops. ``delay`` waits that many seconds before answering. ``raw`` is sent
    as the whole answer, byte for byte (a chunked one, one without a length).
    ``close`` closes the connection after the answer (after nothing, with
    ``raw=b""``) whatever the answer said about keeping it open.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0
    reset: Literal["before", "mid"] | None = None
    hang: bool = False
    raw: bytes | None = None
    close: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the sink saw it; header names are lower-cased."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    time: float


class HttpSink:
    """A thread-safe HTTP/1.1 server on 127.0.0.1, running in a background thread."""

    def __init__(self, tls: tuple[str, str] | None = None, port: int = 0) -> None:
        self._tls = tls
        self._port = port
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._scripts: dict[str, deque[Reply]] = {}
        self._ids: dict[str, str] = {}
        self._published: dict[str, bytes] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []
        self.duplicates = 0
        self.connections = 0  # accepted so far: fewer than requests where some were reused

    def start(self) -> HttpSink:
        """Bind and serve; returns self so ``HttpSink().start()`` reads well."""
        context = None
        if self._tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self._tls)
        self._server = _Server(("127.0.0.1", self._port), _Handler, self, context)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="http-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:43210``."""
        if self._server is None:
            raise RuntimeError("the sink is not started")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def script(self, path: str, replies: Iterable[Reply]) -> None:
        """Answer the next requests to ``path`` with ``replies``, in order, then the default."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    def published(self) -> dict[str, bytes]:
        """The bodies taken so far, by the id they were given."""
        with self._lock:
            return dict(self._published)

    def alter(self, notice_id: str, body: bytes | None) -> None:
        """Change what ``GET /notices/<id>`` serves (None: remove it), as a site editor might."""
        with self._lock:
            if body is None:
                self._published.pop(notice_id, None)
            else:
                self._published[notice_id] = body

    def stop(self) -> None:
        """Stop serving; requests left hanging are released and their connections closed."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HttpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- called from handler threads ---------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            queue = self._scripts.get(request.path)
            return queue.popleft() if queue else Reply()

    def _receipt(self, request: RecordedRequest) -> bytes:
        """The default 2xx body; a key seen before gets the id it got then."""
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key is not None and key in self._ids:
                self.duplicates += 1
                notice_id = self._ids[key]
            else:
                seed = key if key is not None else f"anonymous-{len(self.requests)}"
                notice_id = "n-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]
                if key is not None:
                    self._ids[key] = notice_id
                self._published[notice_id] = request.body
        return json.dumps({"id": notice_id, "url": f"{self.url}/notices/{notice_id}"}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5; a worker opens a channel's whole pool at once.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        sink: HttpSink,
        context: ssl.SSLContext | None,
    ) -> None:
        self.sink = sink
        self.context = context
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (a DNS lookup); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.sink._lock:
            self.sink.connections += 1
        # The TLS handshake runs here, in the connection's own thread, so a
        # client that refuses our certificate cannot stall the accept loop.
        if self.context is not None:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            # The wrapped socket took over the descriptor: closing the
            # original (as socketserver does) would leave this one open.
            with request:
                super().finish_request(request, client_address)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or vanish are part of what this peer is for.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        sink = self.server.sink
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.command, path, headers, body, time.time())
        if self.command == "GET" and path.startswith("/notices/"):
            found = sink.published().get(path.removeprefix("/notices/"))
            reply = Reply(200, {"Content-Type": "application/json"}, found) if found else Reply(404)
        else:
            reply = sink._next_reply(request)
        if reply.hang:
            sink._stopping.wait()
            self.close_connection = True
            return
        if reply.delay and sink._stopping.wait(reply.delay):
            self.close_connection = True
            return
        if reply.reset == "before":
            self._reset()
            return
        if reply.raw is not None:
            self.wfile.write(reply.raw)
            self.close_connection = reply.close
            return
        content = reply.body
        content_type = "application/octet-stream"
        if content is None:
            content_type = "application/json"
            if 200 <= reply.status < 300:
                content = sink._receipt(request)
            else:
                content = json.dumps({"error": _reason(reply.status)}).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": content_type, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if reply.reset == "mid":
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self._reset()
            return
        self.wfile.write(content)
        if reply.close:
            self.close_connection = True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST, not FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status {status}"
