"""The key facts that must match across media, and finding them in what a channel received.

招标投标法实施条例 Art. 15: the same notice in several media carries the same
content. The facts an auditor compares are the title, the project code, the
tenderer, every amount, every deadline and the bid-opening place. Each is
looked for in the text of a rendered payload (JSON, a form, HTML, plain text,
a DOCX file, an e-mail) in any of the forms a channel may write it in:
full-width or half-width, with or without thousands separators, 元 or 万元,
local time or UTC.
"""

from __future__ import annotations

import email
import html
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl

from ..adapter import Payload
from ..notice import LOCAL_TZ, Amount, Notice


@dataclass(frozen=True)
class Fact:
    """One fact of the canonical notice and the texts it may appear as."""

    name: str  # a dotted path into the notice: construction.max_price, deadlines.bid_opening_at
    label: str  # what operators call it
    value: str  # as the canonical notice says it
    forms: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "value": self.value}


def _squeeze(text: str) -> str:
    """Compare like with like: NFKC (full-width → half-width), one space, no thousands commas."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _amount_forms(amount: Amount) -> tuple[str, ...]:
    value = amount.value
    in_yuan = value if amount.unit == "元" else value * 10000
    forms = set()
    for v in (in_yuan, in_yuan / 10000):
        forms |= {f"{v:.2f}", format(v.normalize(), "f"), f"{v:f}"}
    return tuple(sorted(forms))


def _time_forms(moment: datetime) -> tuple[str, ...]:
    local = moment.astimezone(LOCAL_TZ)
    utc = moment.astimezone(UTC)
    day = f"{local.year}年{local.month}月{local.day}日"
    return (
        local.strftime("%Y-%m-%d %H:%M"),
        local.strftime("%Y/%m/%d %H:%M"),
        f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}",
        f"{local.year}年{local.month:02d}月{local.day:02d}日 {local:%H:%M}",
        f"{local.year}年{local.month}月{local.day}日{local.hour}时{local.minute:02d}分",
        # As notices are often typed: no space before the time, the hour unpadded, and a
        # whole hour as 时 alone (a number right after it, 9时30分, is another time).
        f"{day}{local:%H:%M}",
        f"{day}{local.hour}:{local.minute:02d}",
        f"{day} {local.hour}:{local.minute:02d}",
        *([f"{day}{local.hour}时"] if local.minute == 0 else []),
        local.strftime("%Y-%m-%dT%H:%M"),
        utc.strftime("%Y-%m-%dT%H:%M"),
        utc.strftime("%Y-%m-%d %H:%M"),
    )


def _amounts(block: Any, path: str, label: str) -> Iterator[tuple[str, str, Amount]]:
    """Every Amount inside a block, with a dotted path and a label from the field's description."""
    if isinstance(block, Amount):
        yield path, label, block
        return
    if isinstance(block, list):
        for i, item in enumerate(block):
            yield from _amounts(item, f"{path}[{i}]", label)
        return
    fields = getattr(type(block), "model_fields", None)
    if not fields:
        return
    for name, info in fields.items():
        value = getattr(block, name)
        if value is not None:
            sub_label = info.description or name
            yield from _amounts(value, f"{path}.{name}", sub_label)


def canonical_facts(notice: Notice) -> list[Fact]:
    """The facts every medium carrying ``notice`` must agree on."""
    facts = [Fact("title", "标题", notice.title, (notice.title,))]
    if notice.project_code:
        code = notice.project_code
        facts.append(Fact("project_code", "项目编号", code, (code,)))
    if notice.tenderer is not None:
        name = notice.tenderer.name
        facts.append(Fact("tenderer", "招标人", name, (name,)))
    for block_name in ("construction", "procurement", "land_mineral", "state_property"):
        block = getattr(notice, block_name)
        if block is None:
            continue
        for path, label, amount in _amounts(block, block_name, block_name):
            text = f"{amount.value} {amount.unit}"
            facts.append(Fact(path, label, text, _amount_forms(amount)))
    times: list[tuple[str, str, datetime | None]] = []
    if notice.deadlines is not None:
        d = notice.deadlines
        times += [
            ("deadlines.doc_sale_start", "文件获取开始", d.doc_sale_start),
            ("deadlines.doc_sale_end", "文件获取截止", d.doc_sale_end),
            ("deadlines.submission_deadline", "投标截止", d.submission_deadline),
            ("deadlines.bid_opening_at", "开标时间", d.bid_opening_at),
        ]
    if notice.land_mineral is not None:
        land = notice.land_mineral
        times += [
            ("land_mineral.listing_start", "挂牌起始时间", land.listing_start),
            ("land_mineral.listing_end", "挂牌截止时间", land.listing_end),
        ]
    if notice.state_property is not None:
        sp = notice.state_property
        times += [
            ("state_property.disclosure_start", "披露开始", sp.disclosure_start),
            ("state_property.disclosure_end", "披露截止", sp.disclosure_end),
        ]
    for name, label, moment in times:
        if moment is not None:
            shown = moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
            facts.append(Fact(name, label, shown, _time_forms(moment)))
    if notice.deadlines is not None and notice.deadlines.bid_opening_place:
        place = notice.deadlines.bid_opening_place
        facts.append(Fact("deadlines.bid_opening_place", "开标地点", place, (place,)))
    return facts


# --- what a payload says, as text ------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def _decode(content: bytes) -> str:
    for encoding in ("utf-8", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    return content.decode("utf-8", "replace")


def _json_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _json_leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_leaves(v)
    elif value is not None:
        yield str(value)


def _docx_text(content: bytes) -> str:
    from docx import Document

    document = Document(io.BytesIO(content))
    texts = [p.text for p in document.paragraphs]
    for table in document.tables:
        texts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(texts)


def _message_text(message: Message) -> str:
    texts = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        raw = part.get_payload(decode=True)
        if isinstance(raw, bytes):
            charset = part.get_content_charset() or "utf-8"
            try:
                texts.append(raw.decode(charset))
            except (LookupError, UnicodeDecodeError):
                texts.append(_decode(raw))
    texts += [str(message.get("Subject", ""))]
    return "\n".join(texts)


def _part_text(name: str, content: bytes, media_type: str) -> str:
    if content[:4] == b"PK\x03\x04" and zipfile.is_zipfile(io.BytesIO(content)):
        return _docx_text(content) if name.endswith(".docx") else ""
    if name.endswith(".eml") or media_type.startswith("message/"):
        return _message_text(email.message_from_bytes(content))
    text = _decode(content)
    texts = [text]
    try:
        texts += list(_json_leaves(json.loads(text)))
    except ValueError:
        if "x-www-form-urlencoded" in media_type:
            texts += [v for _, v in parse_qsl(text, keep_blank_values=True)]
    return "\n".join(texts)


def payload_text(payload: Payload) -> str:
    """Everything readable in a payload, markup removed and entities resolved."""
    texts = [_part_text(n, c, payload.media_type) for n, c in sorted(payload.parts.items())]
    text = "\n".join(texts)
    return html.unescape(_TAG.sub(" ", html.unescape(text)))


class Rendering:
    """A channel's rendered text, squeezed once, asked for each fact."""

    def __init__(self, text: str) -> None:
        self.text = _squeeze(text)

    def carries(self, fact: Fact) -> bool:
        for form in fact.forms:
            needle = _squeeze(form)
            if not needle:
                continue
            if needle[0].isdigit():
                # A number stands alone: 385 is not found inside 3850000.
                pattern = rf"(?<![0-9.]){re.escape(needle)}(?![0-9]|\.[0-9])"
                if re.search(pattern, self.text):
                    return True
            elif needle in self.text:
                return True
        return False
