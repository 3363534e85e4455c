"""Yearly report: notices by category and, per channel, what was delivered; chart and CSV."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ...notice import LOCAL_TZ
from ...readmodels import YearReport
from ...safeout import csv_cell
from ...syndicator import Syndicator
from .access import engine, viewer
from .chart import bar_chart
from .i18n import Translator
from .session import Session
from .templating import error_page, render, secure, translator

router = APIRouter(include_in_schema=False)
FIRST_YEAR = 2000


def _year(request: Request) -> int | None:
    this_year = datetime.fromtimestamp(time.time(), LOCAL_TZ).year
    raw = request.query_params.get("year", "").strip()
    if not raw:
        return this_year
    if raw.isdigit() and FIRST_YEAR <= int(raw) <= this_year + 1:
        return int(raw)
    return None


def _bad_year(request: Request, session: Session) -> HTMLResponse:
    return error_page(request, 400, [f"year: between {FIRST_YEAR} and next year"], session)


@router.get("/report")
def report_page(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> HTMLResponse:
    year = _year(request)
    if year is None:
        return _bad_year(request, session)
    report = syndicator.year_report(year)
    tr = translator(request)
    chart = bar_chart(
        tr.t("report.chart"),
        [(tr.category(c), report.notices.get(c, 0)) for c, _ in report.categories],
    )
    this_year = datetime.fromtimestamp(time.time(), LOCAL_TZ).year
    years = sorted({*range(this_year - 9, this_year + 1), year}, reverse=True)
    return render(
        request,
        "report.html",
        {"report": report, "chart": chart, "years": years},
        session=session,
    )


def report_rows(report: YearReport, tr: Translator) -> list[list[str | int]]:
    """The table as printed: a header, one row per category, the totals row."""
    rows: list[list[str | int]] = [
        [tr.t("field.category"), tr.t("report.notices"), *report.channels]
    ]
    for category, _ in report.categories:
        delivered = report.delivered.get(category, {})
        rows.append(
            [
                tr.category(category),
                report.notices.get(category, 0),
                *(delivered.get(ch, 0) for ch in report.channels),
            ]
        )
    rows.append(
        [
            tr.t("report.total"),
            report.total_notices,
            *(report.channel_total(ch) for ch in report.channels),
        ]
    )
    return rows


@router.get("/report.csv")
def report_csv(
    request: Request,
    session: Annotated[Session, Depends(viewer)],
    syndicator: Annotated[Syndicator, Depends(engine)],
) -> Response:
    year = _year(request)
    if year is None:
        return _bad_year(request, session)
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    for row in report_rows(syndicator.year_report(year), translator(request)):
        writer.writerow([csv_cell(v) for v in row])
    response = Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{year}.csv"'},
    )
    return secure(request, response)
