"""``GET /metrics``: the ledger's state and this process's worker, for Prometheus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST

from ..metrics import exposition
from ..store.base import TokenRecord
from ..tokens import Scope
from .auth import require
from .problems import responses

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {}}},
        **responses(401, 403, 503),
    },
)
async def metrics(
    request: Request, _: Annotated[TokenRecord, Depends(require(Scope.read))]
) -> Response:
    body = await run_in_threadpool(exposition, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
