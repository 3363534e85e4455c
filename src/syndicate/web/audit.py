"""``/v1/notices/{id}/audit`` and ``/v1/ledger/verify``: the audit read models, as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ..errors import NoticeError
from ..store.base import TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import ProblemError, responses

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get(
    "/notices/{notice_id}/audit",
    summary="The consistency report of a notice across its channels",
    responses=responses(401, 403, 404),
)
async def audit(
    notice_id: str,
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    version: Annotated[int | None, Query(ge=1, le=2**31, description="default: the newest")] = None,
) -> dict[str, Any]:
    """The canonical digest and approvals; per channel the delivery, the payload's SHA-256,
    the receipt and the key facts found in its rendering; ``consistent`` False when a
    channel lacks or changes a fact (each listed in its ``differences``)."""
    try:
        report = await run_in_threadpool(engine.audit, notice_id, version)
    except NoticeError as exc:
        raise ProblemError(404, str(exc.problems[0].message)) from None
    return report.as_dict()


@router.get(
    "/ledger/verify",
    summary="Walk the ledger's hash chain",
    responses=responses(401, 403),
)
async def verify(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> dict[str, Any]:
    """``ok`` with the head (row and hash), or every finding, the first row at fault first."""
    result = await run_in_threadpool(engine.verify)
    return result.as_dict()
