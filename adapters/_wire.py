"""A lean HTTP/1.1 client for the push adapters: keep-alive connections, one write a request.

Why it exists: on the throughput benchmark aiohttp's client took about 45% of the
worker's event-loop CPU (a ClientRequest and a ClientResponse per request, header
merging, a task to write the body, a StreamReader; bench/RESULTS.md, "Second pass"),
more than everything else a delivery does on that thread. A push needs none of that
machinery: here a request is one ``bytes`` built once and written with one
``transport.write``, and the answer is parsed by httptools (llhttp, the C parser
under uvicorn) straight from ``data_received`` into the future the request awaits.

What it does: http and https; at most ``limit`` connections in use per pool,
idle ones kept ``KEEPALIVE`` seconds and dropped when the server closes them or
says ``Connection: close``; answers with a Content-Length, chunked, or ended by
the connection; gzip and deflate bodies decoded; the body cut at ``max_body``
bytes and the head at ``MAX_HEAD``. What it does not: proxies (the adapters keep
aiohttp for those), redirects, cookies, HEAD, HTTP/2.

A failure is a ``WireError`` whose text is the ledger's words for it:
``NotSent`` when the request surely never left (no connection could be made,
or none was free in time), ``MaybeSent`` once any of it may have, and
``CertificateRejected`` when the server's certificate did not verify.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol, cast
from urllib.parse import quote, urlsplit

import aiohappyeyeballs
import httptools

KEEPALIVE = 4.0
"""Seconds an idle connection is kept: under the 5 s that Apache and others keep theirs,
so we drop it before the server does and a reused connection is rarely a closing one."""

PROBE_IDLE = 0.5
"""Seconds idle after which a connection's TCP state is read before it is reused (a
syscall): one reused sooner would need a server that closed it within this time of its
answer, without saying so, and a loop that has not read that FIN yet."""

MAX_HEAD = 64 * 1024
"""An answer whose status line and headers are longer than this is refused."""

CONNECT_TIMED_OUT = "timed out (connecting, or waiting for a free connection)"

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%~"  # RFC 3986 reserved characters, and existing escapes
_TCP_ESTABLISHED = 1
_SITES = 256  # URLs whose parsed form is kept


class WireError(Exception):
    """A request that got no complete answer; ``str()`` says why in the ledger's words."""

    maybe_sent: bool = True


class NotSent(WireError):
    """The request never left: no connection was made, or none was free in time."""

    maybe_sent = False


class MaybeSent(WireError):
    """The request was written, in part or whole, and no complete answer came."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        # Broken before the answer began: RFC 9112 lets an idempotent request go again.
        self.retryable = retryable


class CertificateRejected(NotSent):
    """The server's TLS certificate did not verify against the trusted CAs."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"TLS certificate verification failed ({problem})")
        self.problem = problem


class Headers(Mapping[str, str]):
    """An answer's header fields by name in any case; a repeated field is joined with ", "."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields  # by lower-case name

    def __getitem__(self, name: str) -> str:
        return self._fields[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"


@dataclass(frozen=True)
class Answer:
    """The head of an HTTP answer: what classifying it needs (the body is read separately)."""

    status_code: int
    reason_phrase: str
    headers: Mapping[str, str]
    encoding: str | None = None


class Transport(Protocol):
    """What an adapter sends its requests through: this module's ``Pool``, or aiohttp's."""

    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Answer, bytes]:
        """One request; the answer and its body, cut at the limit. Raises ``WireError``."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


class _Site(NamedTuple):
    """Where connections go: what a pooled connection is reused for."""

    tls: bool
    host: str
    port: int
    authority: str  # the Host header


class Pool:
    """Keep-alive connections to the sites of one channel; at most ``limit`` in use at once."""

    def __init__(
        self,
        *,
        limit: int,
        tls: Callable[[], ssl.SSLContext],
        connect: float,
        read: float,
        write: float,
        wait: float,
        user_agent: str,
        max_body: int,
    ) -> None:
        self._limit = limit
        self._tls_factory = tls
        self._tls: ssl.SSLContext | None = None  # made at the first https connection
        self.connect_timeout, self.read_timeout = connect, read
        self.write_timeout, self.wait_timeout = write, wait
        self.max_body = max_body
        self._user_agent = f"User-Agent: {user_agent}\r\n"
        self._loop = asyncio.get_running_loop()
        self._sites: dict[str, tuple[_Site, str]] = {}
        self._idle: dict[_Site, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Answer, bytes]:
        """One request on a pooled connection; the answer and its body cut at ``max_body``."""
        site, target = self._where(url)
        data = self._head(method, target, site, body, headers) + body
        again = method in _IDEMPOTENT
        fresh = False
        while True:
            conn = await self._acquire(site, fresh)
            try:
                answer = await conn.send(data)
            except MaybeSent as exc:
                self._release(conn, keep=False)
                if not (exc.retryable and again):
                    raise
                again, fresh = False, True  # once, and not on another pooled connection
                continue
            except BaseException:
                self._release(conn, keep=False)
                raise
            self._release(conn, keep=conn.reusable)
            return answer

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.abort()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(NotSent("the channel's connections are closed"))

    # --- the request ----------------------------------------------------------

    def _where(self, url: str) -> tuple[_Site, str]:
        """The site ``url`` is on and its request target, parsed once per URL."""
        found = self._sites.get(url)
        if found is None:
            found = _parse(url)
            if len(self._sites) >= _SITES:
                self._sites.clear()
            self._sites[url] = found
        return found

    def _head(
        self, method: str, target: str, site: _Site, body: bytes, headers: Mapping[str, str]
    ) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {site.authority}\r\n"]
        agent = accept = True
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lower = name.lower()
            if lower == "user-agent":
                agent = False
            elif lower == "accept":
                accept = False
            lines.append(f"{name}: {value}\r\n")
        if agent:
            lines.append(self._user_agent)
        if accept:
            lines.append("Accept: */*\r\n")
        if body or method not in _NO_BODY:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode("utf-8")

    # --- connections ----------------------------------------------------------

    async def _acquire(self, site: _Site, fresh: bool) -> _Connection:
        if self._closed:
            raise NotSent("the channel's connections are closed")
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
        else:
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await self._free_slot()
            except TimeoutError:
                raise NotSent(CONNECT_TIMED_OUT) from None
        try:
            if not fresh:
                conn = self._reuse(site)
                if conn is not None:
                    return conn
            return await self._connect(site)
        except BaseException:
            self._in_use -= 1
            self._wake()
            raise

    async def _free_slot(self) -> None:
        while self._in_use >= self._limit:
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: the wake-up goes to the next
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise
        self._in_use += 1

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _reuse(self, site: _Site) -> _Connection | None:
        idle = self._idle.get(site)
        if not idle:
            return None
        now = self._loop.time()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be closing
            idle_for = now - conn.idle_since
            if idle_for < KEEPALIVE and conn.open(probe=idle_for >= PROBE_IDLE):
                return conn
            conn.abort()
        return None

    async def _connect(self, site: _Site) -> _Connection:
        loop = self._loop
        context = None
        if site.tls:
            if self._tls is None:
                self._tls = self._tls_factory()
            context = self._tls
        sock: socket.socket | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                addresses = await loop.getaddrinfo(site.host, site.port, type=socket.SOCK_STREAM)
                # Happy eyeballs, as aiohttp did: an address that hangs does not hold up the rest.
                sock = await aiohappyeyeballs.start_connection(
                    addresses, happy_eyeballs_delay=0.25, interleave=1, loop=loop
                )
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, site),
                    sock=sock,
                    ssl=context,
                    server_hostname=site.host if context is not None else None,
                )
        except ssl.SSLCertVerificationError as exc:
            _close(sock)
            problem = exc.verify_message or exc.reason or "certificate not trusted"
            raise CertificateRejected(str(problem)) from None
        except OSError as exc:
            _close(sock)
            if isinstance(exc, TimeoutError) and exc.errno is None:
                raise NotSent(CONNECT_TIMED_OUT) from None
            reason = exc.strerror or str(exc)
            raise NotSent(f"cannot connect to {site.host}:{site.port}: {reason}") from None
        except BaseException:
            _close(sock)
            raise
        self._open.add(conn)
        return conn

    def _release(self, conn: _Connection, *, keep: bool) -> None:
        self._in_use -= 1
        if keep and not self._closed and not conn.lost:
            conn.idle_since = self._loop.time()
            self._idle.setdefault(conn.site, []).append(conn)
            if self._sweeper is None:
                self._sweeper = self._loop.call_later(KEEPALIVE, self._sweep)
        else:
            conn.abort()
        if self._waiters:
            self._wake()

    def _sweep(self) -> None:
        """Close the connections idle for longer than ``KEEPALIVE``."""
        self._sweeper = None
        expired = self._loop.time() - KEEPALIVE
        for idle in self._idle.values():
            for conn in [c for c in idle if c.idle_since <= expired or c.lost]:
                idle.remove(conn)
                conn.abort()
        if any(self._idle.values()):
            self._sweeper = self._loop.call_later(KEEPALIVE, self._sweep)

    def _forget(self, conn: _Connection) -> None:
        self._open.discard(conn)


class _Connection(asyncio.Protocol):
    """One connection, and the state of the request in flight on it."""

    def __init__(self, pool: Pool, site: _Site) -> None:
        self.pool = pool
        self.site = site
        self.loop = pool._loop
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False
        self.idle_since = 0.0
        self.reusable = False
        self.answer: asyncio.Future[tuple[Answer, bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.progress = 0.0  # when bytes last moved, for the read and write timeouts
        self.writing_paused = False
        self.status = 0
        self.reason = b""
        self.fields: dict[str, str] = {}
        self.head_done = False
        self.head_size = 0  # bytes read while the head had not ended
        self.fields_size = 0
        self.body: list[bytes] = []
        self.size = 0

    # --- the pool's side --------------------------------------------------------

    def open(self, *, probe: bool) -> bool:
        """Whether a request can go on this connection: the server has not closed it."""
        if self.lost or self.transport is None or self.transport.is_closing():
            return False
        if probe and self.sock is not None:
            # A FIN the loop has not read yet: the server closed it, and nothing was written.
            try:
                state = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
            except OSError:
                return True
            return state[0] == _TCP_ESTABLISHED
        return True

    def send(self, data: bytes) -> asyncio.Future[tuple[Answer, bytes]]:
        """Write one request; the future of its answer."""
        assert self.transport is not None
        self.answer = answer = self.loop.create_future()
        self.head_done, self.head_size, self.body, self.size = False, 0, [], 0
        self.reusable = False
        self.transport.write(data)
        self.progress = now = self.loop.time()
        self.timer = self.loop.call_at(now + self.pool.read_timeout, self._on_timer)
        return answer

    def abort(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio's side ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        if hasattr(socket, "TCP_INFO"):
            self.sock = transport.get_extra_info("socket")

    def data_received(self, data: bytes) -> None:
        answer = self.answer
        if answer is None or answer.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        self.progress = self.loop.time()
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(MaybeSent(f"the answer is not HTTP: {exc}"))
            return
        if not self.head_done:
            self.head_size += len(data)
            if self.head_size > MAX_HEAD:
                self._fail(MaybeSent(f"the answer's head is longer than {MAX_HEAD} bytes"))

    def eof_received(self) -> bool:
        return False  # the transport closes itself; connection_lost decides what it meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.pool._forget(self)
        answer = self.answer
        if answer is None or answer.done():
            self._stop_timer()
            return
        if self.head_done and exc is None and not self._length_known():
            self._finish(keep=False)  # an answer ended by the connection, as HTTP/1.0 did
            return
        if self.head_done:
            why = "Response payload is not completed"
            self._fail(
                MaybeSent(
                    f"connection broken before a complete answer: {why}"
                    + (f": {exc}" if exc is not None else "")
                )
            )
        elif exc is not None:
            self._fail(MaybeSent(f"connection broken: {exc}", retryable=True))
        else:
            self._fail(
                MaybeSent(
                    "connection broken before a complete answer: Server disconnected",
                    retryable=True,
                )
            )

    def pause_writing(self) -> None:
        self.writing_paused = True
        self.progress = self.loop.time()

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.progress = self.loop.time()

    # --- httptools' side --------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.answer is None or self.answer.done():
            self.reusable = False  # bytes after the answer: the connection is out of step
        # A new dict: the one handed out with an earlier answer is never written to again.
        self.fields, self.reason, self.head_done, self.fields_size = {}, b"", False, 0

    def on_status(self, reason: bytes) -> None:
        self.reason = reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields_size += len(name) + len(value)
        key = name.decode("latin-1").lower()
        text = value.decode("utf-8", "surrogateescape")
        seen = self.fields.get(key)
        self.fields[key] = text if seen is None else f"{seen}, {text}"

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.head_done = True
        if self.fields_size > MAX_HEAD:  # a whole head in one read: data_received saw no end
            self._fail(MaybeSent(f"the answer's head is longer than {MAX_HEAD} bytes"))

    def on_body(self, chunk: bytes) -> None:
        if self.answer is None or self.answer.done():
            return
        room = self.pool.max_body - self.size
        if len(chunk) >= room:
            self.body.append(chunk[:room])
            self.size += room
            self._finish(keep=False)  # cut: the rest is never read
            return
        self.body.append(chunk)
        self.size += len(chunk)

    def on_message_complete(self) -> None:
        if self.answer is None or self.answer.done():
            return
        if self.status < 200:
            return  # 1xx: an interim answer; the final one follows on the same connection
        self._finish(keep=self.parser.should_keep_alive())

    # --- internals --------------------------------------------------------------

    def _length_known(self) -> bool:
        return (
            "content-length" in self.fields
            or "chunked" in self.fields.get("transfer-encoding", "").lower()
        )

    def _finish(self, *, keep: bool) -> None:
        self._stop_timer()
        assert self.answer is not None
        fields = self.fields
        body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        coding = fields.get("content-encoding")
        if coding is not None and body:
            body = _decoded(body, coding.strip().lower(), self.pool.max_body)
        answer = Answer(
            self.status,
            self.reason.decode("latin-1"),
            Headers(fields),
            _charset(fields.get("content-type")),
        )
        self.reusable = keep
        self.answer.set_result((answer, body))
        self.body = []
        if not keep:
            self.abort()

    def _fail(self, error: WireError) -> None:
        self._stop_timer()
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(error)
        self.abort()

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self) -> None:
        self.timer = None
        if self.answer is None or self.answer.done():
            return
        pool = self.pool
        limit, what = (
            (pool.write_timeout, "write") if self.writing_paused else (pool.read_timeout, "read")
        )
        due = self.progress + limit
        if self.loop.time() >= due:
            self._fail(MaybeSent(f"timed out ({what})"))
        else:
            self.timer = self.loop.call_at(due, self._on_timer)


def _parse(url: str) -> tuple[_Site, str]:
    """The site of ``url`` and its request target (path and query, percent-encoded)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if scheme not in ("http", "https") or not host:
        raise NotSent(f"cannot send to {url}: not an http:// or https:// URL with a host")
    tls = scheme == "https"
    default = 443 if tls else 80
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise NotSent(f"cannot send to {url}: the host name is not valid") from None
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != default:
        authority += f":{port}"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if not (target.isascii() and target.isprintable()) or " " in target:
        target = quote(target, safe=_TARGET_SAFE)
    return _Site(tls, host, port or default, authority), target


def _charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type, if it has one."""
    if content_type is None or ";" not in content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


def _decoded(body: bytes, coding: str, limit: int) -> bytes:
    """A gzip or deflate body decoded, at most ``limit`` bytes; any other as it came."""
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS  # raw, as some send
    else:
        return body
    try:
        return zlib.decompressobj(wbits).decompress(body, limit)
    except zlib.error:
        return body


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()
