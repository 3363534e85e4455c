"""Signing in with an API token, and out again.

The sign-in form is protected like every other form: before there is a
session, its CSRF token is a random value the page also sets as a cookie
(double submit), so another site cannot sign a browser in to its own token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from ...tokens import Scope, grants
from .access import current, engine
from .session import COOKIE, LIFETIME, issue
from .templating import render, secure

router = APIRouter()
_LOGIN_CSRF = "syndicate_signin"


def safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (``//evil``, ``https://…``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:
    return _form(request, safe_next(next), error=None, status=200)


def _form(request: Request, next_path: str, error: str | None, status: int) -> Response:
    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "signin.html",
        {"next": next_path, "signin_csrf": nonce, "error": error},
        status=status,
    )
    response.set_cookie(
        _LOGIN_CSRF, nonce, httponly=True, samesite="strict", secure=_https(request)
    )
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.post("/login", include_in_schema=False)
async def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(_LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(expected, csrf):
        return _form(request, safe_next(next), "csrf.bad", 403)
    record = await run_in_threadpool(engine(request).tokens.authenticate, token.strip())
    if record is None:
        return _form(request, safe_next(next), "signin.bad", 401)
    if not grants(record, Scope.read):
        return _form(request, safe_next(next), "signin.scope", 403)
    cookie, _ = issue(record, time.time())
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(LIFETIME),
        httponly=True,
        samesite="lax",  # a link from an alert e-mail opens the page signed in; forms carry CSRF
        secure=_https(request),
    )
    response.delete_cookie(_LOGIN_CSRF)
    return secure(request, response)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    session = await run_in_threadpool(current, request)
    response = RedirectResponse("/login", status_code=303)
    if session is not None and session.csrf_ok(csrf):
        response.delete_cookie(COOKIE)
    return secure(request, response)
