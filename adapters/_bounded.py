"""Reading from a peer with limits: how much a reply may hold, and a way to cut a read short.

A hostile server can send an endless greeting, a reply of a million
continuation lines, or one byte every few seconds. ``Budget`` ends a reply
that grows past its limit; ``Sockets`` remembers the sockets a send is using,
so that when the attempt is given up (its timeout, or the worker stopping) the
worker shuts them down and the thread blocked reading them returns at once.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import threading
from typing import Any

MAX_REPLY_BYTES = 64 << 10
"""The most one SMTP reply (all its lines) may hold; real ones are a few hundred bytes."""


class Sockets:
    """The sockets each in-flight send uses, by its idempotency key; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, set[socket.socket]] = {}
        self._local = threading.local()

    @contextlib.contextmanager
    def sending(self, key: str) -> Any:
        """Sockets opened or used in this thread until the block ends belong to ``key``."""
        self._local.key = key
        try:
            yield
        finally:
            self._local.key = None
            with self._lock:
                self._by_key.pop(key, None)

    def add(self, sock: socket.socket | None) -> None:
        key = getattr(self._local, "key", None)
        if key is not None and sock is not None:
            with self._lock:
                self._by_key.setdefault(key, set()).add(sock)

    def interrupt(self, key: str) -> None:
        """Shut down ``key``'s sockets: a read blocked on them returns now."""
        with self._lock:
            found = self._by_key.pop(key, set())
        for sock in found:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Budget:
    """A reply's file whose ``readline`` fails once the reply passes ``limit`` bytes."""

    def __init__(self, inner: Any, limit: int = MAX_REPLY_BYTES) -> None:
        self.inner, self.limit, self.used = inner, limit, 0

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self.inner.readline(size)
        self.used += len(line)
        if self.used > self.limit:
            raise OSError(f"the server's reply exceeds {self.limit} bytes")
        return line

    def close(self) -> None:
        self.inner.close()


class _Bounded(smtplib.SMTP):
    sockets: Sockets | None = None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self.sockets is not None:
            self.sockets.add(sock)
        return sock  # type: ignore[no-any-return]

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = Budget(self.sock.makefile("rb"))
        if isinstance(self.file, Budget):
            self.file.used = 0  # the limit is per reply
        return super().getreply()


def smtp_class(sockets: Sockets, *, ssl: bool) -> type[smtplib.SMTP]:
    """An ``smtplib`` client class whose replies are bounded and whose sockets ``sockets`` knows."""
    base = smtplib.SMTP_SSL if ssl else smtplib.SMTP
    return type("BoundedSMTP", (_Bounded, base), {"sockets": sockets})
