"""Jinja2 for the dashboard: every value escaped, Beijing times, headers that lock the page.

Templates only format what a read model holds; they never query. The
Content-Security-Policy allows scripts and styles from this server alone,
so text that slipped past escaping still could not run.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ...masking import Masker
from ...notice import LOCAL_TZ
from ...safeout import terminal_text
from .i18n import Translator, negotiate
from .session import Session

LANG_COOKIE = "syndicate_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@pass_context
def shown(context: Context, value: object) -> object:
    """Every value a page prints: secrets masked, control characters and bidi overrides shown.

    What peers said (errors, remote ids and URLs) and what upstream sent (titles)
    pass the same functions as on the CLI; HTML built here (``Markup``) is left alone.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        masker = context.get("masker")
        if isinstance(masker, Masker):
            value = masker.mask(value)
        return terminal_text(value, keep_lines=True)
    return value


@pass_context
def masked(context: Context, value: object) -> object:
    """A value masked now, before a filter cuts it: half a secret never shows."""
    masker = context.get("masker")
    return masker.mask(value) if isinstance(masker, Masker) and isinstance(value, str) else value


env = Environment(
    loader=PackageLoader("syndicate.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=shown,
)


def local_time(ts: float | None, seconds: bool = True) -> str:
    """A ledger time (UTC seconds) as Beijing time."""
    if ts is None:
        return "—"
    when = datetime.fromtimestamp(ts, LOCAL_TZ)
    return when.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def http_url(value: object) -> bool:
    """A receipt's URL is a link only if it is http(s): never ``javascript:`` or ``data:``."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


env.filters["local"] = local_time
env.tests["http_url"] = http_url
env.filters["percent"] = percent
env.filters["masked"] = masked


def translator(request: Request) -> Translator:
    """The language of this request: ``?lang=``, the remembered choice, Accept-Language, zh."""
    lang = negotiate(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    return Translator(lang)


def duration(tr: Translator, seconds: float | None) -> str:
    """An age as people say it: 45 秒, 12 分钟, 3 小时, 2 天."""
    if seconds is None:
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return tr.t(f"ago.{unit}", n=math.floor(seconds / size))
    return tr.t("ago.s", n=math.floor(seconds))


def query(request: Request, **changes: object) -> str:
    """This page's query string with ``changes`` applied (None removes a key)."""
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
    return ("?" + urlencode(params)) if params else "?"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    session: Session | None = None,
) -> HTMLResponse:
    tr = translator(request)
    page = env.get_template(template).render(
        request=request,
        tr=tr,
        t=tr.t,
        session=session,
        csrf=session.csrf if session else "",
        duration=lambda s: duration(tr, s),
        query=lambda **kw: query(request, **kw),
        path=request.url.path,
        masker=request.app.state.syndicator.masker(),
        **context,
    )
    response = HTMLResponse(page, status_code=status)
    return secure(request, response)


R = TypeVar("R", bound=Response)


def secure(request: Request, response: R) -> R:
    """Lock the page down, and remember a language picked with ``?lang=``."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    asked = request.query_params.get("lang")
    if asked in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax")
    return response


def error_page(
    request: Request, status: int, lines: list[str], session: Session | None = None
) -> HTMLResponse:
    """A page that says what went wrong, one line per problem, in the request's language."""
    tr = translator(request)
    heading = {404: tr.t("not_found"), 400: tr.t("bad_query")}.get(status, str(status))
    return render(
        request, "error.html", {"heading": heading, "lines": lines}, status=status, session=session
    )
