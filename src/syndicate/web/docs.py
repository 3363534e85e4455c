"""``/openapi.json`` and ``/docs``: the API's own description, behind a ``read`` token.

The schema names every filter and field of the ledger, so it is read like the
ledger: a bearer token with the ``read`` scope, or a dashboard session of one
(the browser that opens ``/docs`` after signing in). ``api.open_docs: true``
serves both to anyone, for a deployment that publishes its API description.
The page's Swagger UI is vendored under ``static/`` like htmx: an intranet
without a way out still gets it, and no browser fetches code from a CDN.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from ..tokens import Scope, grants
from .auth import bearer, require
from .dashboard.access import SignInNeeded, current

OPENAPI = "/openapi.json"


async def _reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """A read token, a signed-in reader's session, or a deployment that opened the docs."""
    if request.app.state.syndicator.config.api.open_docs:
        return
    if credentials is None:
        session = await run_in_threadpool(current, request)
        if session is not None and grants(session.token, Scope.read):
            return
        if request.url.path != OPENAPI:
            raise SignInNeeded(request.url.path)  # a browser: sign in, then back here
    await require(Scope.read)(request, credentials)


def install(app: FastAPI) -> None:
    """Serve the schema and its browsable page on ``app`` (created without FastAPI's own)."""
    router = APIRouter(include_in_schema=False, dependencies=[Depends(_reader)])

    @router.get(OPENAPI)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI,
            title=f"{app.title} — API",
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui-favicon.png",
            # Swagger UI would otherwise send the schema to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.include_router(router)
