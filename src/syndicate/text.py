"""A notice as plain text: one extraction from HTML and one layout, for every text channel.

招标投标法实施条例 Art. 15: a notice published in several media carries the
same content in each. The newspapers' text files and the text part of the
e-mail are therefore made by these functions and no others.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

from .labels import NATURE_LABELS, category_label, type_label
from .notice import Notice
from .rendering import local_time


class _TextExtractor(HTMLParser):
    """HTML to paragraphs of plain text: blocks become lines, table cells tabs, scripts vanish."""

    BLOCKS = frozenset(
        {"address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figure"}
        | {"footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main"}
        | {"nav", "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul"}
    )
    SKIP = frozenset({"script", "style", "head", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCKS:
            self._break()
            if tag == "pre":
                self._pre += 1
        elif tag in ("td", "th") and "".join(self._line).strip():
            self._line.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self._break()
            if tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            for i, piece in enumerate(data.split("\n")):
                if i:
                    self._break(keep=True)
                self._line.append(piece)
        else:
            self._line.append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def flush(self) -> None:
        """End the current line; call after ``close`` to get the last one."""
        self._break()

    def _break(self, keep: bool = False) -> None:
        line = "".join(self._line).rstrip()
        line = line if keep or self._pre else line.strip(" ")
        if line:
            self.lines.append(line)
        self._line = []


def html_paragraphs(html: str) -> list[str]:
    """The text of an HTML body, one paragraph per item, without markup."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    parser.flush()
    return parser.lines


def html_to_text(html: str) -> str:
    """The text of an HTML body, one paragraph a line: what every text channel prints."""
    return "\n".join(html_paragraphs(html))


def key_fields(notice: Notice) -> list[tuple[str, str]]:
    """The labelled facts an editor looks for first, in reading order."""
    rows = [("公告标识", notice.key)]
    if notice.project_code:
        rows.append(("项目编号", notice.project_code))
    rows.append(("业务类别", category_label(notice.category.value)))
    rows.append(("公告类型", type_label(notice.notice_type.value)))
    if notice.nature.value in NATURE_LABELS:
        rows.append(("公告性质", NATURE_LABELS[notice.nature.value] + "公告"))
    rows.append(("发布单位", notice.publisher.name))
    if notice.tenderer:
        rows.append(("招标人", notice.tenderer.name))
    if notice.agency:
        rows.append(("代理机构", notice.agency.name))
    rows.append(("发布时间", local_time(notice.publish_at)))
    if notice.valid_until:
        rows.append(("公示截止", local_time(notice.valid_until)))
    d = notice.deadlines
    if d is not None:
        if d.doc_sale_start or d.doc_sale_end:
            window = f"{local_time(d.doc_sale_start)} 至 {local_time(d.doc_sale_end)}"
            rows.append(("文件获取期", window.strip(" 至")))
        if d.submission_deadline:
            rows.append(("投标截止", local_time(d.submission_deadline)))
        if d.bid_opening_at:
            rows.append(("开标时间", local_time(d.bid_opening_at)))
        if d.bid_opening_place:
            rows.append(("开标地点", d.bid_opening_place))
    return rows


def notice_text(notice: Notice) -> str:
    """The whole notice as plain text: title, key facts, body, attachments."""
    lines = [notice.title, ""]
    lines += [f"{label}：{value}" for label, value in key_fields(notice)]
    lines += ["", *html_paragraphs(notice.body_html)]
    if notice.attachments:
        lines += ["", "附件："]
        for i, a in enumerate(notice.attachments, 1):
            lines.append(f"{i}. {a.name}" + (f"  {a.url}" if a.url else ""))
    return "\n".join(lines) + "\n"


def withdrawal_fields(notice: Notice, reason: str, at: float) -> list[tuple[str, str]]:
    """The facts of a withdrawal notice (撤回公告): which notice, why, when."""
    rows = [("公告标识", notice.id), ("原公告标题", notice.title)]
    if notice.project_code:
        rows.append(("项目编号", notice.project_code))
    rows += [
        ("撤回原因", reason),
        ("撤回时间", local_time(datetime.fromtimestamp(at, UTC))),
        ("发布单位", notice.publisher.name),
    ]
    return rows


def withdrawal_text(notice: Notice, reason: str, at: float) -> str:
    """A short withdrawal notice (撤回公告) for the channels that printed the notice."""
    lines = [f"撤回公告：{notice.title}", ""]
    lines += [f"{label}：{value}" for label, value in withdrawal_fields(notice, reason, at)]
    lines += ["", f"《{notice.title}》现予撤回，此前发布的各版本均不再有效。"]
    return "\n".join(lines) + "\n"
