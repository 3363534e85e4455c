"""Failures: failed and dead deliveries grouped by channel and error; replay them, pause channels.

A replay is two steps: the form first asks how many deliveries match and
shows that count; only the confirming form changes the ledger.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ...errors import QueryError
from ...store.base import DeliveryState
from ...syndicator import Syndicator
from . import forms
from .access import engine, operator, viewer
from .session import Session
from .templating import error_page, render, secure, translator

router = APIRouter(include_in_schema=False)
_REPLAYABLE = {
    "": (DeliveryState.failed, DeliveryState.dead),
    "failed": (DeliveryState.failed,),
    "dead": (DeliveryState.dead,),
}


@router.get("/failures")
def failures_page(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    q = request.query_params
    tr = translator(request)
    flash = None
    if q.get("replayed", "").isdigit():
        flash = tr.t("failures.replay.done", n=int(q["replayed"]))
    elif q.get("paused") in syndicator.config.channels:
        flash = tr.t("channel.paused_done", name=q["paused"])
    elif q.get("resumed") in syndicator.config.channels:
        flash = tr.t("channel.resumed_done", name=q["resumed"])
    return render(
        request,
        "failures.html",
        {
            "failures": syndicator.failures(),
            "switches": syndicator.channel_switches(),
            "channels": list(syndicator.config.channels),
            "q": q,
            "flash": flash,
        },
        session=session,
    )


@router.post("/failures/replay")
async def replay(
    request: Request,
    session: Annotated[Session, Depends(operator)],
    syndicator: Annotated[Syndicator, Depends(engine)],
    channel: Annotated[str, Form()] = "",
    state: Annotated[str, Form()] = "",
    error_class: Annotated[str, Form()] = "",
    notice: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Without ``confirm``: count what matches and ask. With it: replay, then back to the list."""
    states = _REPLAYABLE.get(state)
    if states is None:
        return error_page(request, 400, [f"state: must be failed or dead, not {state!r}"], session)
    asked = {
        "notice": forms.text(notice),
        "channel": forms.text(channel),
        "states": states,
        "error_class": forms.text(error_class),
    }
    try:
        count = await run_in_threadpool(
            lambda: syndicator.replay(
                **asked,  # type: ignore[arg-type]
                dry_run=confirm != "yes",
                by=session.token.name,
            )
        )
    except QueryError as exc:
        return error_page(request, 400, [str(p) for p in exc.problems], session)
    if confirm == "yes":
        return secure(request, RedirectResponse(f"/failures?replayed={count}", status_code=303))
    form = {"channel": channel, "state": state, "error_class": error_class, "notice": notice}
    return render(request, "replay_confirm.html", {"count": count, "form": form}, session=session)


@router.post("/channels/{name}/{action}")
async def pause_or_resume(
    name: str,
    action: str,
    request: Request,
    session: Annotated[Session, Depends(operator)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> Response:
    if action not in ("pause", "resume") or name not in syndicator.config.channels:
        return error_page(request, 404, [f"{name}/{action}"], session)
    if action == "pause":
        await run_in_threadpool(lambda: syndicator.pause(name, by=session.token.name))
        target = f"/failures?paused={name}"
    else:
        await run_in_threadpool(lambda: syndicator.resume(name))
        target = f"/failures?resumed={name}"
    return secure(request, RedirectResponse(target, status_code=303))
