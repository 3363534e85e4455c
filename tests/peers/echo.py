"""A hostile HTTP peer that echoes every request back: in an error body, or in a 2xx receipt.

What a misconfigured CMS or a debugging proxy does: the request line, every
header (Authorization and Proxy-Authorization included) and the body come back
in the answer. ``/fail…`` answers 500 with the echo as text, ``/ok…`` answers
201 with the echo as the receipt's ``id`` and inside its ``url``, ``/pad…``
answers 500 with the echo shifted so the first credential straddles the point
where an error message is cut.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

CUT = 300  # where syndicate cuts a server's message (adapters/_http.py server_message)


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        echo = f"{self.requestline}\n{self.headers}\n{body}"
        self.server.requests.append(echo)  # type: ignore[attr-defined]
        if "/ok" in self.path:
            status, answer = 201, json.dumps({"id": echo, "url": f"https://cms.example/p?{echo}"})
        elif "/pad" in self.path:
            flat = " ".join(echo.split())
            found = re.search(r"(?i)authorization: \S+ ", flat)
            at = found.end() if found else 0
            status, answer = 500, "x" * max(0, CUT - at - 6) + " " + flat
        else:
            status, answer = 500, f"error, you sent:\n{echo}"
        data = answer.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 201 else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_PUT = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


class EchoPeer:
    """The echoing server on a free loopback port."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.requests: list[str] = []
        self.server.requests = self.requests  # type: ignore[attr-defined]
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
