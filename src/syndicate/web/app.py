"""The application factory: one FastAPI app over one Syndicator, the worker beside it if asked.

Routers are mounted here and nowhere else; a dashboard joins the same app with
``app.include_router`` or ``app.mount`` and shares its state and auth.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ..__version__ import __version__
from ..metrics import WorkerMetrics, ledger_registry
from ..notice import Notice
from ..syndicator import Syndicator
from . import (
    approvals,
    attempts,
    audit,
    channels,
    dashboard,
    deliveries,
    docs,
    enqueue,
    health,
    metrics,
    notices,
    replays,
    report,
    withdrawals,
)
from .limits import BodyLimits
from .peertext import PeerText
from .problems import MEDIA_TYPE, ProblemDetail, install
from .runner import WorkerRunner

DESCRIPTION = """\
The HTTP API of syndicate: upstream systems enqueue notices, dashboards read
the ledger, operators replay and pause, monitoring scrapes `/metrics`.

Every request but `GET /healthz` needs a bearer token
(`syndicate token create --scope SCOPE --name NAME`); this description and
`/docs` need the `read` scope, unless `api.open_docs` is set. Errors are
`application/problem+json` and name each field at fault.
"""


def create_app(syndicator: Syndicator, *, worker: bool = False) -> FastAPI:
    """The API over ``syndicator``; with ``worker``, its worker runs for the app's lifetime."""
    registry = ledger_registry(syndicator)
    runner = WorkerRunner(syndicator, WorkerMetrics(registry)) if worker else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if runner is not None:
            await runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()  # lets attempts in flight finish within worker.grace

    app = FastAPI(
        title="syndicate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,  # served by ``docs``, behind a read token
        docs_url=None,
        redoc_url=None,
    )
    app.state.syndicator = syndicator
    app.state.metrics = registry
    app.state.worker = runner
    install(app)
    for module in (
        health,
        enqueue,
        notices,
        audit,
        deliveries,
        attempts,
        channels,
        replays,
        approvals,
        withdrawals,
        report,
        metrics,
    ):
        app.include_router(module.router)
    docs.install(app)
    dashboard.install(app)
    app.add_middleware(BodyLimits, max_body=syndicator.config.api.max_body)
    app.add_middleware(PeerText, masker=syndicator.masker)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated schema, with the notice's own schema and problems as problem+json."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    notice = Notice.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(notice.pop("$defs", {}))
    components["Notice"] = notice
    components["ProblemDetail"] = ProblemDetail.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    components.update(components["ProblemDetail"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "422" in answers:
                answers["422"] = {"description": "Fields missing or wrong", "content": problem}
    app.openapi_schema = schema
    return schema
