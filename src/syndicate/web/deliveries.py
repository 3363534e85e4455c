"""``GET /v1/deliveries``: one notice version to one channel each, newest first, in pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from ..store.base import DeliveryFilter, DeliveryState, TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses
from .queries import Cursor, Limit, Since, Until, seconds
from .schemas import DeliveryPage

router = APIRouter(prefix="/v1", tags=["ledger"])


@router.get(
    "/deliveries",
    response_model=DeliveryPage,
    summary="Deliveries and where each stands",
    responses=responses(401, 403, 422, 503),
)
async def deliveries(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    channel: Annotated[str | None, Query(description="Only this channel.")] = None,
    notice: Annotated[str | None, Query(description="Only this notice: ID or ID.vN.")] = None,
    state: Annotated[DeliveryState | None, Query(description="Only this state.")] = None,
    error_class: Annotated[
        str | None, Query(description="Whose last attempt failed with this error class.")
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """Newest first; `since`/`until` bound when each delivery last changed."""

    def read() -> dict[str, Any]:
        ref = engine.notice_ref(notice) if notice else None
        flt = DeliveryFilter(
            notice_id=ref.id if ref else None,
            notice_version=ref.version if ref else None,
            channel=channel,
            state=state,
            error_class=error_class,
            since=seconds(since),
            until=seconds(until),
        )
        return engine.deliveries(flt, cursor, limit).as_dict()

    return await run_in_threadpool(read)
