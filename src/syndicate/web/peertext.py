"""What peers said, made safe to show over HTTP, as the CLI shows it on a terminal.

A channel's answer (an error message, a remote id or URL) can echo a secret
it was sent, or carry control characters and bidirectional overrides that
reorder what a reader sees. Every JSON answer of the API passes through the
same ``Masker`` and ``json_text`` the CLI uses, whole, before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..masking import Masker
from ..safeout import json_text
from .limits import is_json


def shown_json(body: bytes, masker: Masker) -> bytes:
    """A JSON document with every secret masked and C1 controls and bidi overrides escaped."""
    return json_text(masker.mask(body.decode("utf-8"))).encode("utf-8")


class PeerText:
    """ASGI middleware: JSON answers masked and escaped whole (HTML pages do it in Jinja)."""

    def __init__(self, app: ASGIApp, masker: Callable[[], Masker]) -> None:
        self.app = app
        self.masker = masker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        parts: list[bytes] = []

        async def masked(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                if not is_json(headers.get("content-type")):
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = shown_json(b"".join(parts), self.masker())
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            headers["content-length"] = str(len(body))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, masked)
