"""Hostile servers on loopback: raw TCP peers that never end a reply, or take forever to.

``flood_smtp``: a greeting of endless ``220-`` continuation lines, as fast as
the socket takes them. ``flood_ssh``: an SSH banner line that never ends.
``flood_http``: an HTTP 200 whose body never ends. ``drip``: one byte every
two seconds, forever. Each records when a client's connection closed.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal, Self

Mode = Literal["flood_smtp", "flood_ssh", "flood_http", "drip"]


class HostilePeer:
    """One hostile behaviour on a free loopback port; a thread per connection."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.stopping = threading.Event()
        self.connections = 0
        self.closed_at: list[float] = []  # when each client hung up (monotonic)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._thread.join()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        chunk = {
            "flood_smtp": b"220-" + b"x" * 60 + b"\r\n",
            "flood_ssh": b"SSH-2.0-" + b"x" * 4096,
            "flood_http": b"x" * 65536,
            "drip": b"2",
        }[self.mode]
        if self.mode == "flood_ssh":
            chunk = b"x" * 65536  # after the first bytes, the line just never ends
            conn.sendall(b"SSH-2.0-")
        if self.mode == "flood_http":
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        conn.settimeout(0.5)
        try:
            while not self.stopping.is_set():
                conn.sendall(chunk)
                if self.mode == "drip":
                    # Waiting, and noticing the client hang up meanwhile.
                    deadline = time.monotonic() + 2
                    while time.monotonic() < deadline and not self.stopping.is_set():
                        try:
                            if conn.recv(4096) == b"":
                                raise ConnectionResetError
                        except TimeoutError:
                            pass
        except OSError:
            self.closed_at.append(time.monotonic())
        finally:
            conn.close()
