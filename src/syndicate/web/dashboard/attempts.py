"""Attempt log: every try, filtered by channel, outcome, error class and time; pages and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import QueryParams

from ...errors import QueryError
from ...readmodels import ATTEMPT_FIELDS
from ...safeout import csv_cell
from ...store.base import AttemptFilter, Outcome
from ...syndicator import Syndicator
from . import forms
from .access import engine, viewer
from .session import Session
from .templating import error_page, render, secure

router = APIRouter(include_in_schema=False)
PAGE = 100


def _filter(q: QueryParams, syndicator: Syndicator) -> AttemptFilter:
    outcome = forms.choice("outcome", q.get("outcome"), [o.value for o in Outcome])
    notice = forms.text(q.get("notice"))
    ref = syndicator.notice_ref(notice) if notice else None
    return AttemptFilter(
        notice_id=ref.id if ref else None,
        notice_version=ref.version if ref else None,
        channel=forms.choice("channel", q.get("channel"), list(syndicator.config.channels)),
        outcome=Outcome(outcome) if outcome else None,
        error_class=forms.text(q.get("error_class")),
        since=forms.day_start("since", q.get("since")),
        until=forms.day_end("until", q.get("until")),
    )


@router.get("/attempts")
def attempts_page(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    q = request.query_params
    try:
        page = syndicator.attempt_log(_filter(q, syndicator), forms.text(q.get("cursor")), PAGE)
    except QueryError as exc:
        return error_page(request, 400, [str(p) for p in exc.problems], session)
    return render(
        request,
        "attempts.html",
        {
            "page": page,
            "q": q,
            "channels": list(syndicator.config.channels),
            "outcomes": [o.value for o in Outcome],
        },
        session=session,
    )


@router.get("/attempts.csv")
def attempts_csv(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> Response:
    """Every matching attempt, oldest first, times in UTC; streamed, so any size downloads."""
    try:
        flt = _filter(request.query_params, syndicator)
    except QueryError as exc:
        return error_page(request, 400, [str(p) for p in exc.problems], session)

    masker = syndicator.masker()

    def cell(value: object) -> object:
        return csv_cell(masker.mask(value) if isinstance(value, str) else value)

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=ATTEMPT_FIELDS)
        buffer.write("\ufeff")  # so a spreadsheet on a Chinese desktop reads UTF-8
        writer.writeheader()
        for n, entry in enumerate(syndicator.attempt_export(flt), 1):
            writer.writerow({k: cell(v) for k, v in entry.as_dict().items()})
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    response = StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="attempts.csv"'},
    )
    return secure(request, response)
