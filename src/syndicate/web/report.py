"""``GET /v1/report``: a year's figures for the information-disclosure report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ..rendering import DISPLAY_TZ
from ..store.base import TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses
from .schemas import Report

router = APIRouter(prefix="/v1", tags=["report"])


@router.get(
    "/report",
    response_model=Report,
    summary="Notices published in a year by category, and what each channel carried",
    responses=responses(401, 403, 422, 503),
)
async def report(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    year: Annotated[
        int | None, Query(ge=2000, le=2200, description="Default: this year (Asia/Shanghai).")
    ] = None,
) -> dict[str, Any]:
    chosen = year if year is not None else datetime.now(DISPLAY_TZ).year
    figures = await run_in_threadpool(engine.year_report, chosen)
    return figures.as_dict()
