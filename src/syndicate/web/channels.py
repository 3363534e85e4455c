"""``/v1/channels``: each channel's health; pause and resume one."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from ..store.base import TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import responses
from .schemas import Channels

router = APIRouter(prefix="/v1", tags=["channels"])

ChannelName = Annotated[str, Path(description="A channel of channels.yaml.", max_length=64)]


class Switched(BaseModel):
    """What a pause or resume did."""

    channel: str
    paused: bool
    changed: bool  # False: it already was


@router.get(
    "/channels",
    response_model=Channels,
    summary="Each channel: paused, circuit, backlog, success rates, last error",
    responses=responses(401, 403, 503),
)
async def channels(
    _: Annotated[TokenRecord, Depends(require(Scope.read))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> dict[str, Any]:
    health = await run_in_threadpool(engine.channel_health)
    return health.as_dict()


@router.post(
    "/channels/{name}/{action}",
    summary="Pause a channel (no new delivery starts there) or resume it",
    responses=responses(401, 403, 422, 503),
)
async def switch(
    name: ChannelName,
    action: Literal["pause", "resume"],
    token: Annotated[TokenRecord, Depends(require(Scope.operate))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> Switched:
    """Deliveries already in flight finish; the rest wait, in the ledger, until resumed."""

    def switch_it() -> bool:
        pause = action == "pause"
        changed = engine.pause(name, by=token.name) if pause else engine.resume(name)
        if changed:
            engine.store.record_operation(time.time(), token.name, action, name)
        return changed

    changed = await run_in_threadpool(switch_it)
    return Switched(channel=name, paused=action == "pause", changed=changed)
