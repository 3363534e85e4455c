"""SMTP peers: aiosmtpd on a free loopback port that records mail and misbehaves on demand.

Plain, STARTTLS with AUTH required, or implicit TLS; the certificates come
from a CA made at test time (``tests.peers.http.make_tls_files``).
"""

from __future__ import annotations

import asyncio
import email
import ssl
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.peers.http import TlsFiles, make_tls_files

SMTP_USER = "hywb-submit"
SMTP_PASSWORD = "s3cret-Pa55-hywb"


@dataclass(frozen=True)
class Received:
    """One message the server read to the end of DATA, and what it answered."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    reply: str
    tls: bool
    login: bytes | None

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class Script:
    """How the server misbehaves; each queue is consumed one message (or one session) at a time.

    ``data_replies``: answers to DATA in order ("451 4.3.0 try later"), then "250".
    ``drop_after_data``: how many messages to read and then drop the connection without a reply.
    ``greeting`` / ``ehlo``: replies replacing the 220 greeting or the EHLO answer, one per
    session; the server closes the connection after sending one.
    """

    data_replies: deque[str] = field(default_factory=deque)
    drop_after_data: int = 0
    greeting: deque[str] = field(default_factory=deque)
    ehlo: deque[str] = field(default_factory=deque)


class RecordingHandler:
    """An aiosmtpd handler that records every message and follows a ``Script``."""

    def __init__(self) -> None:
        self.script = Script()
        self.received: list[Received] = []
        self.sessions = 0  # EHLO/HELO exchanges, i.e. client sessions (the probe sends none)
        self._queued = 0
        self.servers: list[SMTP] = []

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.sessions += 1
        self.servers.append(server)
        if self.script.ehlo:
            reply = self.script.ehlo.popleft()
            _close_soon(server)
            return [reply]
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        if self.script.drop_after_data > 0:
            self.script.drop_after_data -= 1
            self._record(server, session, envelope, data, "(dropped)")
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            # connection_lost cancels this task; the client never hears a reply.
            await asyncio.Event().wait()
        if self.script.data_replies:
            reply = self.script.data_replies.popleft()
        else:
            self._queued += 1
            reply = f"250 2.0.0 Ok: queued as HY{self._queued:05d}"
        self._record(server, session, envelope, data, reply)
        return reply

    def _record(
        self, server: SMTP, session: Session, envelope: Envelope, data: bytes, reply: str
    ) -> None:
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                data=data,
                reply=reply,
                tls=tls,
                login=login,
            )
        )


def _close_soon(server: SMTP) -> None:
    # After the reply has been written: close() flushes before it closes.
    transport = server.transport
    assert transport is not None
    asyncio.get_running_loop().call_soon(transport.close)


class _ScriptedSMTP(SMTP):
    """aiosmtpd's SMTP whose 220 greeting can be replaced by a scripted refusal."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._greeted = False

    async def push(self, status: Any) -> None:
        first, self._greeted = not self._greeted, True
        script = self.event_handler.script
        if first and script.greeting:
            await super().push(script.greeting.popleft())
            _close_soon(self)
            return
        await super().push(status)


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _Controller(Controller):
    """A Controller on port 0 that learns the port the kernel gave it."""

    def factory(self) -> SMTP:
        return _ScriptedSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class SmtpPeer:
    """A running aiosmtpd and what it saw."""

    controller: Controller
    handler: RecordingHandler
    tls_files: TlsFiles | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        port: int = self.controller.port
        return port

    @property
    def script(self) -> Script:
        return self.handler.script

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def disconnect_all(self) -> None:
        """Close every client connection from the server side, as an idle timeout would."""

        async def close() -> None:
            for server in self.handler.servers:
                if server.transport is not None:
                    server.transport.close()

        asyncio.run_coroutine_threadsafe(close(), self.controller.loop).result(timeout=10)

    def stop(self) -> None:
        self.controller.stop()


def _server_context(files: TlsFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert_file, files.key_file)
    return ctx


def start_smtp(
    *, tls_files: TlsFiles | None = None, mode: str = "none", **smtp_kwargs: Any
) -> SmtpPeer:
    """Start aiosmtpd on 127.0.0.1: mode "none", "starttls" (AUTH required) or "ssl"."""
    handler = RecordingHandler()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": 0, "server_hostname": "smtp.test"}
    if mode == "starttls":
        assert tls_files is not None
        kwargs |= {
            "tls_context": _server_context(tls_files),
            "require_starttls": True,
            "auth_required": True,
            "auth_require_tls": True,
            "authenticator": _authenticate,
        }
    elif mode == "ssl":
        assert tls_files is not None
        kwargs["ssl_context"] = _server_context(tls_files)
    controller = _Controller(handler, **(kwargs | smtp_kwargs))
    controller.start()
    return SmtpPeer(controller, handler, tls_files)


@pytest.fixture(scope="session")
def smtp_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpPeer]:
    """A plain SMTP server, no TLS, no AUTH."""
    peer = start_smtp()
    yield peer
    peer.stop()


@pytest.fixture
def smtp_starttls(smtp_tls_files: TlsFiles) -> Iterator[SmtpPeer]:
    """STARTTLS required before anything else, then AUTH as SMTP_USER / SMTP_PASSWORD."""
    peer = start_smtp(tls_files=smtp_tls_files, mode="starttls")
    yield peer
    peer.stop()


@pytest.fixture
def smtp_ssl(smtp_tls_files: TlsFiles) -> Iterator[SmtpPeer]:
    """SMTP over implicit TLS (the "ssl" mode, port 465 style)."""
    peer = start_smtp(tls_files=smtp_tls_files, mode="ssl")
    yield peer
    peer.stop()
