"""``POST /v1/notices``: enqueue one notice or a batch, exactly as the CLI does."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ..errors import NoticeConflict, NoticeError
from ..notice import Notice, loads_notice_json
from ..store.base import TokenRecord
from ..syndicator import Accepted, Syndicator
from ..tokens import Scope
from .auth import bearer, require, syndicator
from .problems import FieldProblem, ProblemError, field_problems, responses

_may_enqueue = require(Scope.enqueue)


class _TokenChecked(APIRoute):
    """``enqueue`` called with its token checked here, not by FastAPI's dependency solver.

    Its signature still documents the route (the bearer scheme in the OpenAPI); per
    request, solving that one dependency generically cost about a fifth of the CPU
    a single-notice request takes in the web layer.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def handle(request: Request) -> Response:
            return await enqueue(request, await _may_enqueue(request, await bearer(request)))

        return handle


router = APIRouter(prefix="/v1", tags=["notices"], route_class=_TokenChecked)


class Enqueued(BaseModel):
    """What became of one notice."""

    id: str
    version: int
    status: Literal["accepted", "already accepted", "conflict", "refused"]
    digest: str | None = None
    channels: list[str] = []
    awaiting_approval: list[str] = []  # steps to pass before any channel receives it
    errors: list[FieldProblem] = []

    @classmethod
    def of(cls, accepted: Accepted) -> Enqueued:
        status: Literal["accepted", "already accepted"] = (
            "accepted" if accepted.created else "already accepted"
        )
        # The engine's own typed values: built without validating them again.
        return cls.model_construct(
            id=accepted.notice_id,
            version=accepted.version,
            status=status,
            digest=accepted.digest,
            channels=list(accepted.channels),
            awaiting_approval=list(accepted.approval_steps),
            errors=[],
        )


class Batch(BaseModel):
    """One result per notice of a batch, in the order sent."""

    results: list[Enqueued]


_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Notice"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Notice"}},
                ]
            }
        }
    },
}


def _parse(raw: bytes) -> Any:
    try:
        return loads_notice_json(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProblemError(400, f"the body is not UTF-8 (byte {exc.start})") from None
    except NoticeError as exc:
        problem = exc.problems[0]
        where = f" (line {problem.line})" if problem.line is not None else ""
        raise ProblemError(400, f"the body is {problem.message}{where}") from None


def _validate(items: list[Any]) -> list[Notice]:
    """Every notice of a batch, or 422 naming each bad field: a bad batch stores nothing."""
    notices, problems = [], []
    for i, item in enumerate(items):
        try:
            notices.append(Notice.parse(item))
        except NoticeError as exc:
            problems += field_problems(exc.problems, prefix=f"[{i}].")
    if problems:
        raise ProblemError(422, "the batch is refused; nothing was stored", problems)
    return notices


def _enqueue_batch(engine: Syndicator, notices: list[Notice], by: str) -> list[Enqueued]:
    """Every notice of a valid batch, stored in one transaction; a result for each."""
    results = []
    for notice, done in zip(notices, engine.enqueue_many(notices, by=by), strict=True):
        if not isinstance(done, NoticeError):
            results.append(Enqueued.of(done))
            continue
        status: Literal["conflict", "refused"] = (
            "conflict" if isinstance(done, NoticeConflict) else "refused"
        )
        results.append(
            Enqueued(
                id=notice.id,
                version=notice.version,
                status=status,
                errors=field_problems(done.problems),
            )
        )
    return results


@router.post(
    "/notices",
    status_code=201,
    response_model=Enqueued | Batch,
    summary="Enqueue a notice, or a batch of them",
    openapi_extra={"requestBody": _BODY},
    responses={
        200: {"description": "Already accepted with the same content", "model": Enqueued | Batch},
        201: {"description": "Accepted: stored with one delivery per routed channel"},
        **responses(400, 401, 403, 409, 413, 415, 422),
    },
)
async def enqueue(
    request: Request,
    token: Annotated[TokenRecord, Depends(_may_enqueue)],
) -> Response:
    """Validate, route and store notices, idempotently on (id, version).

    One notice: 201 accepted, 200 already accepted with the same content,
    409 the same id and version with other content, 422 refused with every
    field named. A batch (a JSON array, up to ``api.max_batch``): 422 if any
    notice is invalid, and then nothing is stored; otherwise one result per
    notice (accepted, already accepted, conflict or refused) — 201 if any
    was accepted, else 200.
    """
    # Read here rather than as a dependency: FastAPI runs a plain function dependency
    # in its thread pool, one thread hop per request for an attribute lookup.
    engine = syndicator(request)
    data = _parse(await request.body())
    if isinstance(data, list):
        limit = engine.config.api.max_batch
        if len(data) > limit:
            raise ProblemError(413, f"a batch holds at most {limit} notices ({len(data)} sent)")
        notices = _validate(data)
        results = await run_in_threadpool(_enqueue_batch, engine, notices, token.name)
        created = any(r.status == "accepted" for r in results)
        return _answer(Batch(results=results), 201 if created else 200)
    if not isinstance(data, dict):
        raise ProblemError(422, "send a notice (a JSON object) or a batch (an array)")
    notice = _single(data)
    # Committed together with the requests that arrive while the ledger writes (group commit).
    accepted = await engine.enqueue_async(notice, by=token.name)
    return _answer(Enqueued.of(accepted), 201 if accepted.created else 200)


def _answer(model: Enqueued | Batch, status: int) -> Response:
    """``model`` as it stands: built from the engine's own values, it needs no second validation."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def _single(data: dict[str, Any]) -> Notice:
    try:
        return Notice.parse(data)
    except NoticeError as exc:
        raise ProblemError(422, "the notice is refused", field_problems(exc.problems)) from None
