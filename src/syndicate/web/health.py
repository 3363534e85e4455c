"""``/healthz`` (the process answers) and ``/readyz`` (the ledger answers, the worker runs)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ..errors import StoreError
from ..store.base import TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Ready when the ledger answers and, if this process runs one, the worker runs."""

    ready: bool
    ledger: str
    worker: Literal["running", "stopped", "not in this process"]


@router.get("/healthz", summary="The process is up (no token needed)")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    summary="The ledger is reachable and the worker running",
    responses={
        503: {"description": "Not ready; the body says why", "model": Readiness},
        **responses(401, 403),
    },
)
async def readyz(
    request: Request,
    response: Response,
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> Readiness:
    try:
        await run_in_threadpool(engine.store.next_due)
        ledger = "ok"
    except StoreError as exc:
        ledger = str(exc)
    runner = request.app.state.worker
    worker: Literal["running", "stopped", "not in this process"] = (
        "not in this process" if runner is None else "running" if runner.running else "stopped"
    )
    ready = ledger == "ok" and worker != "stopped"
    response.status_code = 200 if ready else 503
    return Readiness(ready=ready, ledger=ledger, worker=worker)
