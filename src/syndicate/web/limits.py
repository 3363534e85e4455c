"""What a request body may be: JSON, and no larger than the configured cap.

An ASGI middleware, so an oversized body is refused from its Content-Length
before a byte of it is read, and a chunked one as soon as it passes the cap —
never after it was read whole.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import ProblemError, problem_response

_JSON = ("application/json", "application/problem+json")


class BodyTooLarge(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the body is larger than {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media in _JSON or (media.startswith("application/") and media.endswith("+json"))


class BodyLimits:
    """Refuse a body over ``max_body`` bytes (413) or not JSON (415), before reading it."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        declared = int(length) if length and length.isdigit() else None
        if declared is not None and declared > self.max_body:
            response = problem_response(413, f"the body is larger than {self.max_body} bytes")
            await response(scope, receive, send)
            return
        has_body = chunked or bool(declared)
        # The API takes JSON; the dashboard's forms post form data to paths outside /v1.
        api = str(scope.get("path", "")).startswith("/v1/")
        if api and has_body and not is_json(_header(scope, b"content-type")):
            response = problem_response(415, "send the body as application/json")
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        await self.app(scope, counted, send)
