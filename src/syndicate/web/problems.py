"""Every error the API answers is ``application/problem+json`` (RFC 9457), naming what was wrong."""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from ..errors import NoticeConflict, NoticeError, Problem, QueryError, StoreError

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    """One mistake, located: ``field`` is a dotted path (``[2].title`` in a batch)."""

    field: str
    message: str
    line: int | None = None
    column: int | None = None


class ProblemDetail(BaseModel):
    """An error answer: what went wrong, and each field at fault."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldProblem] = []


class ProblemError(Exception):
    """Raised anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        errors: Iterable[FieldProblem] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers


def problem_response(
    status: int,
    detail: str | None = None,
    errors: Iterable[FieldProblem] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetail(
        title=HTTPStatus(status).phrase, status=status, detail=detail, errors=list(errors)
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def field_problems(problems: Iterable[Problem], prefix: str = "") -> list[FieldProblem]:
    return [
        FieldProblem(field=f"{prefix}{p.path}" if p.path else prefix.rstrip("."), message=p.message)
        if p.line is None
        else FieldProblem(field=p.path, message=p.message, line=p.line)
        for p in problems
    ]


def _validation(exc: RequestValidationError) -> JSONResponse:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if err.get("type") == "json_invalid":
            where = err.get("ctx", {}).get("error", "")
            return problem_response(400, f"the body is not valid JSON: {where}".rstrip(": "))
        field = ".".join(loc[1:]) if loc and loc[0] in {"body", "query", "path"} else ".".join(loc)
        message = "unknown field" if err.get("type") == "extra_forbidden" else err.get("msg", "")
        errors.append(FieldProblem(field=field, message=str(message)))
    return problem_response(422, "the request names fields that are missing or wrong", errors)


def install(app: FastAPI) -> None:
    """Answer every error, ours and the framework's, as a problem."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.detail, exc.errors, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation(exc)

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers) if exc.headers else None
        detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
        return problem_response(exc.status_code, detail, headers=headers)

    async def on_notice(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NoticeError)
        status = 409 if isinstance(exc, NoticeConflict) else 422
        return problem_response(status, "the notice is refused", field_problems(exc.problems))

    async def on_query(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QueryError)
        return problem_response(422, "the query cannot be answered", field_problems(exc.problems))

    async def on_store(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(503, f"the ledger cannot be used now: {exc}")

    handlers: dict[type[Exception], Any] = {
        ProblemError: on_problem,
        RequestValidationError: on_validation,
        HTTPException: on_http,
        NoticeError: on_notice,
        QueryError: on_query,
        StoreError: on_store,
    }
    for kind, handler in handlers.items():
        app.add_exception_handler(kind, handler)


# Declared on every operation, so the OpenAPI names each error it can answer.
_DESCRIPTIONS = {
    400: "Malformed request (the body is not JSON; a bad cursor)",
    401: "No bearer token, or one that is unknown or revoked",
    403: "The token lacks the scope this operation needs",
    404: "Not found",
    409: "Conflict: the same id and version were accepted with other content; a notice "
    "withdrawn already",
    413: "The body is larger than the configured limit",
    415: "The body is not application/json",
    422: "Fields missing or wrong; each is named",
    503: "The ledger cannot be used now",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` for these error codes, all as problem+json."""
    schema = {"$ref": "#/components/schemas/ProblemDetail"}
    return {
        code: {"description": _DESCRIPTIONS[code], "content": {MEDIA_TYPE: {"schema": schema}}}
        for code in codes
    }
