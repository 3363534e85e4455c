"""Notices: the notice × channel matrix, filtered and searched, one cursor page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ...errors import QueryError
from ...labels import CATEGORY_LABELS, TYPE_LABELS
from ...store.base import NoticeFilter, NoticeState
from ...syndicator import Syndicator
from . import forms
from .access import engine, viewer
from .session import Session
from .templating import error_page, render

router = APIRouter(include_in_schema=False)
PAGE = 50


@router.get("/notices")
def notices_page(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    q = request.query_params
    try:
        state = forms.choice("state", q.get("state"), [s.value for s in NoticeState])
        flt = NoticeFilter(
            category=forms.choice("category", q.get("category"), list(CATEGORY_LABELS)),
            notice_type=forms.choice("type", q.get("type"), list(TYPE_LABELS)),
            region=forms.text(q.get("region")),
            state=NoticeState(state) if state else None,
            channel=forms.choice("channel", q.get("channel"), list(syndicator.config.channels)),
            since=forms.day_start("since", q.get("since")),
            until=forms.day_end("until", q.get("until")),
            text=forms.text(q.get("q")),
        )
        page = syndicator.matrix(flt, forms.text(q.get("cursor")), PAGE)
    except QueryError as exc:
        return error_page(request, 400, [str(p) for p in exc.problems], session)
    return render(
        request,
        "notices.html",
        {"page": page, "states": [s.value for s in NoticeState], "q": q},
        session=session,
    )
