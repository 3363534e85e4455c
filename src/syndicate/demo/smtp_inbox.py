"""A loopback SMTP server that keeps what it receives: the demo's e-mail inbox.

aiosmtpd on 127.0.0.1 (a free port by default), plain SMTP without AUTH, in
its own thread. Every message read to the end of DATA is kept in memory and
written to the inbox folder as ``<Message-ID>.eml``; a message whose
Message-ID was seen before replaces the file and is counted as a duplicate.
It is demo and development tooling, not a mail server.
"""

from __future__ import annotations

import asyncio
import email
import re
import threading
from dataclasses import dataclass
from email import policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")


@dataclass(frozen=True)
class Mail:
    """One message as the inbox took it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message_id: str
    subject: str
    data: bytes
    path: Path


class SmtpInbox:
    """An SMTP server on 127.0.0.1 in a background thread, filing mail into ``folder``."""

    def __init__(self, folder: Path, *, port: int = 0) -> None:
        self.folder = folder
        self._handler = _Handler(self)
        self._controller = _Controller(
            self._handler, hostname="127.0.0.1", port=port, server_hostname="inbox.demo"
        )
        self._lock = threading.Lock()
        self.received: list[Mail] = []
        self.duplicates = 0

    @property
    def port(self) -> int:
        port: int = self._controller.port
        return port

    def start(self) -> SmtpInbox:
        """Create the folder and start serving; returns self."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop serving; mail already taken stays in the folder."""
        self._controller.stop()

    def __enter__(self) -> SmtpInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _keep(self, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        message = email.message_from_bytes(data, policy=policy.default)
        message_id = str(message.get("Message-ID", "")).strip()
        name = _UNSAFE.sub("_", message_id.strip("<>")).lstrip(".") or "message"
        path = self.folder / f"{name}.eml"
        with self._lock:
            seen = any(m.message_id == message_id for m in self.received) if message_id else False
            if seen:
                self.duplicates += 1
            path.write_bytes(data)
            self.received.append(
                Mail(
                    mail_from=str(envelope.mail_from),
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    message_id=message_id,
                    subject=str(message.get("Subject", "")),
                    data=data,
                    path=path,
                )
            )
            number = len(self.received)
        return f"250 2.0.0 Ok: queued as DEMO{number:05d}"


class _Handler:
    """aiosmtpd's handler: every message goes to the inbox."""

    def __init__(self, inbox: SmtpInbox) -> None:
        self._inbox = inbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            return self._inbox._keep(envelope)
        except OSError:
            return "451 4.3.0 cannot store the message now"


class _Controller(Controller):
    """A Controller that may bind port 0 and learns the port the kernel gave it."""

    def _trigger_server(self) -> None:
        server = self.server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
