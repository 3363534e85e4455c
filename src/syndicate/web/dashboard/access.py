"""Who may see a dashboard page or press its buttons: the session's token and its scopes.

A page without a live session sends the browser to sign in (htmx requests
get ``HX-Redirect`` so a polling card does not swap a login form into itself);
a form without the session's CSRF token changes nothing.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ...syndicator import Syndicator
from ...tokens import Scope, grants
from .session import COOKIE, Session, verify


class SignInNeeded(Exception):
    """No live session: the browser goes to the sign-in page, then back to ``next``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """A signed-in browser asked for something its token or form does not allow."""

    def __init__(self, message_key: str, status: int) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.status = status


def engine(request: Request) -> Syndicator:
    found: Syndicator = request.app.state.syndicator
    return found


def current(request: Request) -> Session | None:
    return verify(request.cookies.get(COOKIE), engine(request).store.token, time.time())


def viewer(request: Request) -> Session:
    """A dependency: the live session of a token that may read the ledger."""
    session = current(request)
    if session is None or not grants(session.token, Scope.read):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(quote(target, safe="/"))
    return session


async def operator(request: Request) -> Session:
    """A dependency for forms that change things: operate scope and the session's CSRF token."""
    session = await run_in_threadpool(viewer, request)
    form = await request.form()
    presented = form.get("csrf")
    if not session.csrf_ok(presented if isinstance(presented, str) else None):
        raise Refused("csrf.bad", 403)
    if not grants(session.token, Scope.operate):
        raise Refused("forbidden.operate", 403)
    return session
