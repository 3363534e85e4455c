"""The publisher's HTML made safe for every channel that renders it: an allow-list, not a deny-list.

``body_html`` comes from an upstream system, and a channel shows it to the
public: in an e-mail, a newspaper's HTML or DOCX file, a web page. nh3 (the
ammonia sanitiser) keeps the ordinary markup of a notice — paragraphs,
headings, tables, lists, links, images — and removes scripts, styles, event
handlers, ``javascript:`` URLs, iframes, forms and anything else not listed.

Whether sanitising *changed* the body is decided against the same markup
passed through nh3 with everything it contains allowed, so harmless
normalisation (a ``<tbody>`` added, quotes around attributes) does not count.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

import nh3

if TYPE_CHECKING:
    from .notice import Notice

URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
MAX_DEPTH = 200
MAX_TAGS = 100_000
MAX_REFERENCES = 20_000

_WORD = re.compile(r"[A-Za-z_:][-\w:.]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,30}(?=:)")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,30})[^<>]*>")
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Closed by the next of their kind (or their parent's end) without an end tag.
_IMPLIED = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "option",
        "optgroup",
        "tr",
        "td",
        "th",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rp",
        "rtc",
        "html",
        "head",
        "body",
    ]
)
_TABLE_PARTS = frozenset(
    ["caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "td", "th"]
)


def markup_problem(html: str) -> str | None:
    """Why ``html`` is refused before any parser sees it, or None; one linear pass.

    HTML parsers spend time quadratic in the nesting depth, in content misplaced
    inside a table (which they move out of it, one piece at a time), and in
    character references: a notice never needs much of any of them.
    """
    if html.count("<") > MAX_TAGS:
        return f"more than {MAX_TAGS:,} tags"
    if html.count("&") > MAX_REFERENCES:
        return f"more than {MAX_REFERENCES:,} character references (&...;)"
    depth = deepest = 0
    tables: list[bool] = []  # per open table: is a cell (or caption) open in it?
    end = 0
    for m in _TAG.finditer(html):
        if tables and not tables[-1] and html[end : m.start()].strip():
            return "text inside a <table> but outside its cells"
        end = m.end()
        closing, name = m.group(1) == "/", m.group(2).lower()
        if name == "table":
            if closing:
                tables and tables.pop()
            else:
                tables.append(False)
            continue
        if name in ("td", "th", "caption") and tables:
            tables[-1] = not closing
        elif name in _TABLE_PARTS and tables:
            tables[-1] = False
        elif tables and not tables[-1] and not closing:
            return f"<{name}> inside a <table> but outside its cells"
        if name in _VOID or name in _IMPLIED:
            continue
        depth = max(0, depth - 1) if closing else depth + 1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return f"elements nested (or left open) more than {MAX_DEPTH} deep"
    return None


class Sanitized(NamedTuple):
    html: str
    changed: bool


def sanitize_html(html: str) -> Sanitized:
    """``html`` with only allow-listed markup left, and whether anything was removed."""
    clean = nh3.clean(html, url_schemes=set(URL_SCHEMES), link_rel=None)
    if clean == html:
        return Sanitized(clean, False)
    # Everything the text could name as a tag, an attribute or a URL scheme, allowed.
    names = set(_WORD.findall(html)) | set(nh3.ALLOWED_TAGS)
    kept = nh3.clean(
        html,
        tags=names,
        clean_content_tags=set(),
        attributes={"*": names},
        url_schemes=set(_SCHEME.findall(html)) | set(URL_SCHEMES),
        link_rel=None,
    )
    return Sanitized(clean, kept != clean)


def sanitized_notice(notice: Notice) -> tuple[Notice, bool]:
    """``notice`` with its body sanitised for the channels, and whether that changed it."""
    result = sanitize_html(notice.body_html)
    if result.html == notice.body_html:
        return notice, False
    return notice.model_copy(update={"body_html": result.html}), result.changed
