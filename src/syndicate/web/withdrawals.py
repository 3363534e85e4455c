"""``POST /v1/notices/{id}/withdrawal``: withdraw every version of a notice, on every channel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from ..store.base import TokenRecord, Withdrawn
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import ProblemError, responses


class WithdrawalRequest(BaseModel):
    """Why the notice is withdrawn: printed in the withdrawal notice the channels get."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class WithdrawalDone(BaseModel):
    """What the withdrawal did: pending deliveries cancelled, channels asked to take it down."""

    notice: str
    version: int  # the newest version when it was withdrawn
    reason: str
    at: datetime
    by: str | None
    cancelled: int
    channels: list[str]

    @classmethod
    def of(cls, done: Withdrawn) -> WithdrawalDone:
        w = done.withdrawal
        return cls(
            notice=w.notice_id,
            version=w.version,
            reason=w.reason,
            at=datetime.fromtimestamp(w.at, UTC),
            by=w.by,
            cancelled=done.cancelled,
            channels=done.channels,
        )


router = APIRouter(prefix="/v1", tags=["operations"])

NoticeId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]


@router.post(
    "/notices/{notice_id}/withdrawal",
    summary="Withdraw a notice: cancel what is pending, take it down where it is published",
    responses=responses(401, 403, 404, 409, 413, 415, 422, 503),
)
async def withdraw(
    notice_id: NoticeId,
    request: WithdrawalRequest,
    token: Annotated[TokenRecord, Depends(require(Scope.operate))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> WithdrawalDone:
    """Every version is withdrawn; the token is recorded as who withdrew it. A notice
    withdrawn already is refused (409) and nothing changes."""

    def run() -> Withdrawn:
        if not engine.store.notice_versions(notice_id):
            raise ProblemError(404, f"no notice {notice_id} in the ledger")
        earlier = engine.store.withdrawal(notice_id)
        if earlier is not None:
            raise ProblemError(
                409, f"notice {notice_id} was withdrawn already (reason: {earlier.reason})"
            )
        return engine.withdraw(notice_id, request.reason, by=token.name)

    return WithdrawalDone.of(await run_in_threadpool(run))
