"""``POST /v1/notices/{id}/approvals``: decide the awaited approval step of a notice version."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..approval import Decision
from ..errors import ApprovalRefused
from ..store.base import Decided, TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope
from .auth import require, syndicator
from .problems import ProblemError, field_problems, responses
from .schemas import Approval, ApprovalTrail

router = APIRouter(prefix="/v1", tags=["operations"])


class ApprovalRequest(BaseModel):
    """One decision: the step, who decides, and the digest of the content they saw."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31, description="The notice version decided")
    step: str = Field(min_length=1, max_length=64, description="The awaited step, e.g. 科室负责人")
    decision: Literal["approved", "rejected"]
    by: str = Field(min_length=1, max_length=200, description="Who decides (a person's name)")
    digest: str = Field(
        pattern=r"^[0-9a-fA-F]{64}$",
        description="The canonical digest of the content the approver saw: a decision counts "
        "only for that content",
    )
    comment: str | None = Field(
        default=None, max_length=2000, description="A comment; the reason of a rejection"
    )

    @model_validator(mode="after")
    def _reason(self) -> ApprovalRequest:
        if self.decision == "rejected" and not (self.comment or "").strip():
            raise ValueError("a rejection needs its reason in comment")
        return self


class DecisionRecorded(BaseModel):
    """The decision recorded, the version's trail with it, and the deliveries it created."""

    notice: str
    version: int
    approval: Approval
    trail: ApprovalTrail
    channels: list[str]  # deliveries created: the routed channels, on the last approval


def _answer(notice_id: str, version: int, decided: Decided) -> dict[str, Any]:
    return {
        "notice": notice_id,
        "version": version,
        "approval": decided.approval.as_dict(),
        "trail": decided.trail.as_dict(),
        "channels": decided.channels,
    }


@router.post(
    "/notices/{notice_id}/approvals",
    status_code=201,
    response_model=DecisionRecorded,
    summary="Approve or reject the awaited approval step of a notice version",
    responses=responses(400, 401, 403, 404, 409, 413, 415, 422, 503),
)
async def decide(
    notice_id: Annotated[str, Path(min_length=1, max_length=200)],
    request: ApprovalRequest,
    token: Annotated[TokenRecord, Depends(require(Scope.operate))],
    engine: Annotated[Syndicator, Depends(syndicator)],
) -> dict[str, Any]:
    """Steps are decided in order, each once, each naming the digest the approver saw.

    The last step approved creates the version's deliveries; a rejection ends it,
    never delivered. 404: no such notice or version; 409: another digest, a step
    not awaited or decided already, a rejected notice; 422: a notice that needs no
    approval. The token is recorded with the decision.
    """

    def run() -> Decided:
        return engine.decide(
            notice_id,
            request.version,
            request.step,
            Decision(request.decision),
            by=request.by,
            digest=request.digest,
            comment=request.comment,
            via=token.name,
        )

    try:
        decided = await run_in_threadpool(run)
    except ApprovalRefused as exc:
        detail = "the decision is refused; nothing was recorded"
        raise ProblemError(exc.status, detail, field_problems(exc.problems)) from None
    return _answer(notice_id, request.version, decided)
