"""The yearly information-disclosure figures (政府信息公开工作年度报告), from the ledger alone.

Notices per category, per medium, corrections, clarifications and
terminations, and the approvals and approval-to-publication time where the
ledger records approvals. Exported as CSV and DOCX, byte for byte the same
on every run for the same ledger: no clock, no random id, zip members and
document properties pinned; the ledger's chain head names the state counted.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..labels import CATEGORY_LABELS, NATURE_LABELS
from ..notice import LOCAL_TZ
from ..readmodels import YearReport
from ..store.base import Store
from .chain import Head

NATURES = ("original", "correction", "clarification", "termination")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
PAGE = 1000


@dataclass(frozen=True)
class Medium:
    channel: str
    description: str
    routed: int
    delivered: int


@dataclass(frozen=True)
class Disclosure:
    """A year's figures for the disclosure report."""

    year: int
    head: Head  # the ledger these figures were counted from
    by_category: dict[str, dict[str, int]]  # category -> nature -> notice versions
    media: list[Medium]
    approvals: int | None  # None: the ledger records no approvals
    approval_to_publication_hours: float | None  # the mean; None where no data exists
    withdrawals: int | None  # notices withdrawn in the year (Asia/Shanghai)

    def total(self, nature: str | None = None) -> int:
        return sum(
            n
            for natures in self.by_category.values()
            for k, n in natures.items()
            if nature in (None, k)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "ledger_head": self.head.as_dict(),
            "notices": {
                cat: {**self.by_category[cat], "total": sum(self.by_category[cat].values())}
                for cat in CATEGORY_LABELS
            },
            "total_notices": self.total(),
            "corrections": self.total("correction"),
            "clarifications": self.total("clarification"),
            "terminations": self.total("termination"),
            "withdrawals": self.withdrawals,
            "approvals": self.approvals,
            "approval_to_publication_hours": self.approval_to_publication_hours,
            "media": [
                {
                    "channel": m.channel,
                    "description": m.description,
                    "routed": m.routed,
                    "delivered": m.delivered,
                }
                for m in self.media
            ],
        }

    # --- exports ------------------------------------------------------------------

    def rows(self) -> Iterator[list[str]]:
        """The figures as (section, item, label, value) rows: the CSV, and the document's tables."""
        yield ["section", "item", "label", "value"]
        for cat, label in CATEGORY_LABELS.items():
            for nature in NATURES:
                nature_label = NATURE_LABELS.get(nature, "原公告")
                yield ["notices", f"{cat}.{nature}", f"{label} {nature_label}",
                       str(self.by_category[cat][nature])]  # fmt: skip
            yield [
                "notices",
                f"{cat}.total",
                f"{label} 合计",
                str(sum(self.by_category[cat].values())),
            ]
        yield ["notices", "total", "公告合计", str(self.total())]
        yield ["changes", "corrections", "更正公告", str(self.total("correction"))]
        yield ["changes", "clarifications", "澄清公告", str(self.total("clarification"))]
        yield ["changes", "terminations", "终止公告", str(self.total("termination"))]
        yield ["changes", "withdrawals", "撤回", _optional(self.withdrawals)]
        yield ["approvals", "approvals", "审核（领导审批）", _optional(self.approvals)]
        yield ["approvals", "approval_to_publication_hours", "审批至发布平均用时（小时）",
               _optional(self.approval_to_publication_hours)]  # fmt: skip
        for m in self.media:
            yield ["media", f"{m.channel}.delivered", m.description, str(m.delivered)]
            yield ["media", f"{m.channel}.routed", f"{m.description}（应发）", str(m.routed)]
        yield ["ledger", "head", "账本链头", f"{self.head.seq} {self.head.hash}"]

    def to_csv(self) -> bytes:
        """UTF-8 with a BOM (so spreadsheet programs read the Chinese), CRLF lines."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        for row in self.rows():
            writer.writerow(row)
        return ("\ufeff" + buffer.getvalue()).encode("utf-8")

    def to_docx(self) -> bytes:
        import docx
        from docx.oxml.ns import qn

        document = docx.Document()
        normal = document.styles["Normal"]
        normal.font.name = "SimSun"
        normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
        document.add_heading(f"{self.year}年度公告发布情况统计", level=1)
        document.add_paragraph(
            f"统计口径：发布时间在{self.year}年内（北京时间）的公告（每个版本计一条）；"
            f"数据来自发布账本，链头第{self.head.seq}行。"
        )
        document.add_heading("一、各类公告发布数量", level=2)
        table = document.add_table(rows=1, cols=6)
        table.style = "Table Grid"
        for cell, text in zip(
            table.rows[0].cells, ["业务类别", "原公告", "更正", "澄清", "终止", "合计"], strict=True
        ):
            cell.text = text
        for cat, label in CATEGORY_LABELS.items():
            counts = self.by_category[cat]
            values = [label, *(str(counts[n]) for n in NATURES), str(sum(counts.values()))]
            for cell, text in zip(table.add_row().cells, values, strict=True):
                cell.text = text
        totals = ["合计", *(str(self.total(n)) for n in NATURES), str(self.total())]
        for cell, text in zip(table.add_row().cells, totals, strict=True):
            cell.text = text
        document.add_heading("二、各发布媒介", level=2)
        media = document.add_table(rows=1, cols=3)
        media.style = "Table Grid"
        for cell, text in zip(media.rows[0].cells, ["媒介", "已发布", "应发布"], strict=True):
            cell.text = text
        for m in self.media:
            for cell, text in zip(
                media.add_row().cells, [m.description, str(m.delivered), str(m.routed)], strict=True
            ):
                cell.text = text
        document.add_heading("三、更正、终止、撤回与审核", level=2)
        for row in self.rows():
            if row[0] in ("changes", "approvals"):
                document.add_paragraph(f"{row[2]}：{row[3] or '账本未记录'}")
        props = document.core_properties
        stamp = datetime(self.year + 1, 1, 1)
        props.title = f"{self.year}年度公告发布情况统计"
        props.author = props.last_modified_by = "syndicate"
        props.identifier = f"{self.head.seq}:{self.head.hash}"
        props.comments = ""
        props.created = props.modified = props.last_printed = stamp
        props.revision = 1
        buffer = io.BytesIO()
        document.save(buffer)
        return _fixed_zip(buffer.getvalue())


def _optional(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _fixed_zip(data: bytes) -> bytes:
    # python-docx stamps every zip member with the current time; pin them.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def disclosure(
    store: Store, year_report: YearReport, descriptions: dict[str, str], year: int
) -> Disclosure:
    """Count ``year`` from the ledger: the year report's media, the notices by nature."""
    head = store.chain_head()
    by_category = {cat: dict.fromkeys(NATURES, 0) for cat in CATEGORY_LABELS}
    unapproved = _unapproved(store)
    after = 0
    while True:
        rows = store.ledger_rows("notices", after, PAGE)
        for r in rows:
            if datetime.fromtimestamp(float(r["publish_at"]), LOCAL_TZ).year != year:
                continue
            if int(r["pk"]) in unapproved:
                continue  # awaiting approval or rejected: not published
            nature = json.loads(r["content"]).get("nature", "original")
            counts = by_category.setdefault(r["category"], dict.fromkeys(NATURES, 0))
            counts[nature if nature in counts else "original"] += 1
        if len(rows) < PAGE:
            break
        after = int(rows[-1]["pk"])
    media = [
        Medium(
            ch,
            descriptions.get(ch) or ch,
            sum(by.get(ch, 0) for by in year_report.routed.values()),
            year_report.channel_total(ch),
        )
        for ch in year_report.channels
    ]
    approvals, hours = _approval_figures(store, year)
    return Disclosure(year, head, by_category, media, approvals, hours, _withdrawals(store, year))


def _ledger_rows(store: Store, table: str, key: str) -> Iterator[Any]:
    after = 0
    while True:
        rows = store.ledger_rows(table, after, PAGE)
        yield from rows
        if len(rows) < PAGE:
            return
        after = int(rows[-1][key])


def _unapproved(store: Store) -> set[int]:
    """Notices (by pk) still awaiting approval or rejected: they were never published."""
    needed = {
        int(r["notice_pk"]): int(r["step_count"])
        for r in _ledger_rows(store, "approval_requests", "notice_pk")
    }
    approved: dict[int, int] = {}
    rejected: set[int] = set()
    for r in _ledger_rows(store, "approvals", "id"):
        pk = int(r["notice_pk"])
        if r["decision"] == "rejected":
            rejected.add(pk)
        else:
            approved[pk] = approved.get(pk, 0) + 1
    return {pk for pk, steps in needed.items() if pk in rejected or approved.get(pk, 0) < steps}


def _approval_figures(store: Store, year: int) -> tuple[int | None, float | None]:
    """Notice versions of ``year`` that passed every approval step, and the mean hours from
    the last approval to the first delivered attempt; None where the ledger has nothing."""
    since = datetime(year, 1, 1, tzinfo=LOCAL_TZ).timestamp()
    until = datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ).timestamp()
    figures = store.approval_figures(since, until)
    if not figures.recorded:
        return None, None
    waits = [done - approved for approved, done in figures.approved if done is not None]
    mean = round(sum(waits) / len(waits) / 3600, 6) if waits else None
    return len(figures.approved), mean


def _withdrawals(store: Store, year: int) -> int:
    """Notices withdrawn in ``year``: by when they were withdrawn, whatever their versions."""
    count, after = 0, 0
    while True:
        rows = store.ledger_rows("withdrawals", after, PAGE)
        count += sum(
            1 for r in rows if datetime.fromtimestamp(float(r["at"]), LOCAL_TZ).year == year
        )
        if len(rows) < PAGE:
            return count
        after = int(rows[-1]["id"])


__all__: Sequence[str] = ("Disclosure", "Medium", "disclosure")
