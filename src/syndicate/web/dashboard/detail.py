"""Notice detail: every version, each channel's delivery with its attempts, and what was sent."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...approval import Decision
from ...errors import ApprovalRefused, NoticeError, SyndicateError
from ...store.base import AttemptFilter, Outcome
from ...syndicator import Syndicator
from ...tokens import Scope, grants
from . import forms
from .access import engine, operator, viewer
from .session import Session
from .templating import error_page, render, secure, translator

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
    tr = translator(request)
    decided = request.query_params.get("decided")
    flash = tr.t(f"approval.done.{decided}") if decided in ("approved", "rejected") else None
    if request.query_params.get("withdrawn") and detail.withdrawal is not None:
        flash = tr.t("withdrawal.recorded")
    context = {
        "detail": detail,
        "can_decide": grants(session.token, Scope.operate),
        "flash": flash,
    }
    return render(request, "detail.html", context, session=session)


@router.post("/notices/{notice_id}/approvals")
async def decide(
    notice_id: str,
    request: Request,
    session: Annotated[Session, Depends(operator)],
    syndicator: Annotated[Syndicator, Depends(engine)],
    version: Annotated[int, Form()],
    step: Annotated[str, Form()],
    digest: Annotated[str, Form()],
    decision: Annotated[str, Form()],
    by: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """The awaited step of the version shown, decided with the digest the page showed."""
    if decision not in (Decision.approved.value, Decision.rejected.value):
        return error_page(request, 400, [f"decision: not {decision!r}"], session)
    try:
        await run_in_threadpool(
            lambda: syndicator.decide(
                notice_id,
                version,
                step,
                Decision(decision),
                by=by,
                digest=digest,
                comment=forms.text(comment),
                via=session.token.name,
            )
        )
    except ApprovalRefused as exc:
        return error_page(request, exc.status, [str(p) for p in exc.problems], session)
    target = f"/notices/{quote(notice_id, safe='')}?decided={decision}#v{version}"
    return secure(request, RedirectResponse(target, status_code=303))


@router.post("/notices/{notice_id}/withdrawal")
async def withdraw(
    notice_id: str,
    request: Request,
    session: Annotated[Session, Depends(operator)],
    syndicator: Annotated[Syndicator, Depends(engine)],
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Withdraw every version, as ``syndicate withdraw`` does; the box must be ticked."""
    tr = translator(request)
    if confirm != "yes":
        return error_page(request, 400, [tr.t("withdrawal.unconfirmed")], session)
    try:
        await run_in_threadpool(
            lambda: syndicator.withdraw(notice_id, reason, by=session.token.name)
        )
    except NoticeError as exc:
        known = await run_in_threadpool(syndicator.store.notice_versions, notice_id)
        return error_page(request, 409 if known else 404, [str(p) for p in exc.problems], session)
    target = f"/notices/{quote(notice_id, safe='')}?withdrawn=1"
    return secure(request, RedirectResponse(target, status_code=303))


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
