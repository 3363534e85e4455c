"""Notice detail: every version, each channel's delivery with its attempts, and what was sent."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ...errors import SyndicateError
from ...store.base import AttemptFilter, Outcome
from ...syndicator import Syndicator
from .access import engine, viewer
from .session import Session
from .templating import error_page, render, translator

router = APIRouter(include_in_schema=False)


@router.get("/notices/{notice_id}")
def notice_page(
    notice_id: str,
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    detail = syndicator.notice_detail(notice_id)
    if detail is None:
        return error_page(request, 404, [notice_id], session)
    return render(request, "detail.html", {"detail": detail}, session=session)


@router.get("/notices/{notice_id}/preview")
def preview_page(
    notice_id: str,
    version: int,
    channel: str,
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    """What ``channel`` received for one version, checked against the digest the ledger holds.

    A fragment when htmx asks (the detail page's disclosure), a page of its own otherwise.
    """
    sent = syndicator.attempt_log(
        AttemptFilter(notice_id=notice_id, notice_version=version, channel=channel), limit=1
    ).items
    recorded = sent[0].payload_sha256 if sent else None
    received = bool(sent) and sent[0].outcome is Outcome.delivered
    try:
        shown = syndicator.preview(f"{notice_id}.v{version}", channel)
        problem = None
    except SyndicateError as exc:
        shown, problem = None, str(exc)
    context = {
        "preview": shown,
        "problem": problem,
        "recorded": recorded,
        "received": received,
        "notice_id": notice_id,
        "version": version,
        "channel": channel,
    }
    if request.headers.get("hx-request"):
        return render(request, "preview.html", context, session=session)
    tr = translator(request)
    return render(
        request,
        "preview_page.html",
        {**context, "heading": tr.t("detail.preview")},
        session=session,
    )
