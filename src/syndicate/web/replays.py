"""``POST /v1/replays``: put failed or dead deliveries back to pending, counted first if asked."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..store.base import DeliveryState, TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses
from .queries import seconds


class ReplayRequest(BaseModel):
    """Which deliveries to replay: at least one of channel, notice, delivery, or ``all``."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(default=None, max_length=64)
    notice: str | None = Field(default=None, max_length=200, description="ID or ID.vN")
    delivery: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="One delivery, by its id"
    )
    all: bool = Field(default=False, description="Every failed or dead delivery")
    states: list[Literal["failed", "dead"]] = Field(default=["failed", "dead"], min_length=1)
    since: datetime | None = Field(default=None, description="Ended at or after (ISO 8601)")
    until: datetime | None = Field(default=None, description="Ended before (ISO 8601)")
    dry_run: bool = Field(default=False, description="Only count what would be replayed")

    @model_validator(mode="after")
    def _says_what(self) -> ReplayRequest:
        if not (self.channel or self.notice or self.delivery or self.all):
            raise ValueError("say what to replay: channel, notice, delivery or all")
        return self


class Replayed(BaseModel):
    dry_run: bool
    count: int  # deliveries put back to pending (or that would be)


router = APIRouter(prefix="/v1", tags=["operations"])


@router.post(
    "/replays",
    summary="Replay failed or dead deliveries (dry_run counts them first)",
    responses=responses(400, 401, 403, 413, 415, 422, 503),
)
async def replay(
    request: ReplayRequest,
    token: Annotated[TokenRecord, Depends(require(Scope.operate))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> Replayed:
    """History is kept: earlier attempts stay in the log; the token is recorded with the replay."""

    def run() -> int:
        return engine.replay(
            notice=request.notice,
            channel=request.channel,
            delivery_id=request.delivery,
            states=[DeliveryState(s) for s in request.states],
            since=seconds(request.since),
            until=seconds(request.until),
            dry_run=request.dry_run,
            by=token.name,
        )

    return Replayed(dry_run=request.dry_run, count=await run_in_threadpool(run))
