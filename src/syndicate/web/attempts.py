"""``GET /v1/attempts``: the attempt log, newest first, filtered, in pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ..store.base import AttemptFilter, Outcome, TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses
from .queries import Cursor, Limit, Since, Until, seconds
from .schemas import AttemptPage

router = APIRouter(prefix="/v1", tags=["ledger"])


@router.get(
    "/attempts",
    response_model=AttemptPage,
    summary="The attempt log",
    responses=responses(401, 403, 422, 503),
)
async def attempts(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    channel: Annotated[str | None, Query(description="Only this channel.")] = None,
    notice: Annotated[str | None, Query(description="Only this notice: ID or ID.vN.")] = None,
    outcome: Annotated[Outcome | None, Query(description="Only this outcome.")] = None,
    error_class: Annotated[str | None, Query(description="e.g. TransientDeliveryError")] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """Every try of every delivery: when, by which worker, the outcome, the channel's answer.

    Newest first; `next_cursor` continues the list, bounded by `since`/`until`
    (when the attempt started).
    """

    def read() -> dict[str, Any]:
        ref = engine.notice_ref(notice) if notice else None
        flt = AttemptFilter(
            notice_id=ref.id if ref else None,
            notice_version=ref.version if ref else None,
            channel=channel,
            outcome=outcome,
            error_class=error_class,
            since=seconds(since),
            until=seconds(until),
        )
        return engine.attempt_log(flt, cursor, limit).as_dict()

    return await run_in_threadpool(read)
