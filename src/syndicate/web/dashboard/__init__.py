"""The web dashboard: server-rendered pages over the engine's read models, on the API's app.

Served at ``/`` by ``syndicate serve``: Jinja2 templates, htmx vendored in
``static/`` (nothing from a CDN), Chinese by default. Each page module only
turns a request into a read-model call and renders what comes back.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import attempts, detail, failures, notices, overview, report, signin
from .access import Refused, SignInNeeded
from .templating import error_page, secure, translator

STATIC = str(files("syndicate.web") / "static")


def install(app: FastAPI) -> None:
    """Mount the dashboard's pages and static files on ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (signin, overview, notices, detail, attempts, failures, report):
        app.include_router(module.router)
    app.add_exception_handler(SignInNeeded, _sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]


async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
    target = f"/login?next={exc.next_path}"
    if request.headers.get("hx-request"):
        # A polling fragment would swap the sign-in page into itself; send the whole page there.
        return secure(request, Response(status_code=204, headers={"HX-Redirect": target}))
    return secure(request, RedirectResponse(target, status_code=303))


async def _refused(request: Request, exc: Refused) -> Response:
    return error_page(request, exc.status, [translator(request).t(exc.message_key)])
