"""``GET /v1/notices``: notices and every version's deliveries; a channel's preview of one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool

from ..notice import Category, NoticeType
from ..store.base import NoticeFilter, NoticeState, TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import ProblemError, responses
from .queries import Cursor, Limit, Since, Until, seconds
from .schemas import NoticeDetail, NoticePage, Preview

router = APIRouter(prefix="/v1", tags=["notices"])

NoticeId = Annotated[str, Path(description="The notice's id.", min_length=1, max_length=200)]


@router.get(
    "/notices",
    response_model=NoticePage,
    summary="Notices, newest first",
    responses=responses(401, 403, 422, 503),
)
async def notices(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    category: Annotated[Category | None, Query()] = None,
    type: Annotated[NoticeType | None, Query(description="The notice type.")] = None,
    region: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,6}\*?$", description="A region code; 4416* matches a prefix."),
    ] = None,
    state: Annotated[NoticeState | None, Query()] = None,
    channel: Annotated[str | None, Query(description="Routed to this channel.")] = None,
    text: Annotated[
        str | None, Query(max_length=200, description="In the title or the project code.")
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> dict[str, Any]:
    """Notice versions with their deliveries counted; `since`/`until` bound when accepted."""
    flt = NoticeFilter(
        category=category.value if category else None,
        notice_type=type.value if type else None,
        region=region,
        state=state,
        channel=channel,
        text=text,
        since=seconds(since),
        until=seconds(until),
    )
    page = await run_in_threadpool(engine.notices, flt, cursor, limit)
    return page.as_dict()


@router.get(
    "/notices/{notice_id}",
    response_model=NoticeDetail,
    summary="A notice: every version, each channel's delivery, attempts, receipts, digests",
    responses=responses(401, 403, 404, 422, 503),
)
async def notice(
    notice_id: NoticeId,
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> dict[str, Any]:
    found = await run_in_threadpool(engine.notice_detail, notice_id)
    if found is None:
        raise ProblemError(404, f"no notice {notice_id} in the ledger")
    return found.as_dict()


@router.get(
    "/notices/{notice_id}/preview",
    response_model=Preview,
    summary="Exactly what a channel would receive for a notice, sent nowhere",
    responses=responses(401, 403, 404, 422, 503),
)
async def preview(
    notice_id: NoticeId,
    channel: Annotated[str, Query(description="The channel to preview for.")],
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
    version: Annotated[
        int | None, Query(ge=1, le=2**31, description="Default: the latest.")
    ] = None,
) -> dict[str, Any]:
    stored = [r.version for r in await run_in_threadpool(engine.store.notice_versions, notice_id)]
    if not stored or (version is not None and version not in stored):
        which = notice_id if version is None else f"{notice_id}.v{version}"
        raise ProblemError(404, f"no notice {which} in the ledger")
    ref = f"{notice_id}.v{version or max(stored)}"
    shown = await run_in_threadpool(engine.preview, ref, channel)
    return shown.as_dict()
