"""Overview: one card per channel, today's figures, open incidents; the cards refresh themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ...syndicator import Syndicator
from .access import engine, viewer
from .session import Session
from .templating import render

router = APIRouter(include_in_schema=False)
REFRESH_SECONDS = 10


@router.get("/")
def overview_page(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    return render(
        request,
        "overview.html",
        {"view": syndicator.overview(), "refresh": REFRESH_SECONDS},
        session=session,
    )


@router.get("/overview/live")
def overview_live(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    """The part of the overview that polls: figures, incidents and cards, without the frame."""
    return render(
        request,
        "overview_live.html",
        {"view": syndicator.overview(), "refresh": REFRESH_SECONDS},
        session=session,
    )
