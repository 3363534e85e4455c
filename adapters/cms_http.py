"""Push notices to a CMS over HTTP: the trading website, the city government portal.

One request per attempt, ``POST`` (or ``PUT``) of a JSON or form body, with
``Idempotency-Key: <delivery key>`` identical on every attempt of a delivery,
so a CMS that de-duplicates never publishes a notice twice. The transport —
auth (bearer, basic, HMAC with key rotation), timeouts, TLS, and how an answer
becomes a receipt or a transient or permanent error — is ``_http``'s.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode

from pydantic import Field, PlainValidator, field_validator

from syndicate.adapter import DeliveryContext, Payload
from syndicate.errors import PermanentDeliveryError
from syndicate.notice import Notice
from syndicate.rendering import Template, template_validator

from ._http import HEADER_NAME, HttpPushAdapter, HttpPushOptions

_RESERVED_HEADERS = frozenset({"idempotency-key", "content-length", "host", "transfer-encoding"})
_MEDIA_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}


class CmsHttpOptions(HttpPushOptions):
    """A CMS endpoint: where, how the body is shaped, how we authenticate."""

    method: Literal["POST", "PUT"] = "POST"
    format: Literal["json", "form"] = "json"
    template: Annotated[Template | None, PlainValidator(template_validator(html=False))] = Field(
        default=None,
        description="renders the body as JSON text (use |tojson); for format form, a flat "
        "JSON object whose members become the form fields",
    )
    html_template: Annotated[Template | None, PlainValidator(template_validator(html=True))] = (
        Field(
            default=None,
            description="HTML the site shows, autoescaped; replaces body_html in the default "
            "body and is `html` in `template`",
        )
    )
    headers: dict[str, str] = Field(default_factory=dict, description="extra, non-secret headers")

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name} is set by syndicate and cannot be overridden")
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
                raise ValueError(f"header {name} contains a control character")
        return value


class CmsHttpAdapter(HttpPushAdapter[CmsHttpOptions]):
    """Pushes each notice to one CMS endpoint with one reused connection pool."""

    kind: ClassVar[str] = "cms_http"
    Options: ClassVar[type[CmsHttpOptions]] = CmsHttpOptions

    def __init__(self, channel: str, options: CmsHttpOptions) -> None:
        super().__init__(channel, options)
        self.method = options.method
        self._media_type = _MEDIA_TYPES[options.format]
        self._content_type = f"{self._media_type}; charset=utf-8"

    def describe(self) -> str:
        return f"{self.options.method} {self.options.url}"

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        opts = self.options
        html = opts.html_template.render(notice) if opts.html_template is not None else None
        text: str | None = None
        document: Any = None
        if opts.template is not None:
            text = opts.template.render(notice, html=html, idempotency_key=ctx.idempotency_key)
            try:
                document = json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                raise PermanentDeliveryError(f"template output is not valid JSON: {exc}") from None
        if opts.format == "json":
            body = default_body(notice, html) if text is None else text.encode("utf-8")
        else:
            if text is None:
                document = default_document(notice, html)
            if not isinstance(document, dict):
                raise PermanentDeliveryError("a form template must render a JSON object")
            body = form_encode(document)
        headers = {
            "Content-Type": self._content_type,
            "Idempotency-Key": ctx.idempotency_key,
            **opts.headers,
        }
        return Payload(self._media_type, {"body": body}, headers=headers, target=opts.url)


def default_document(notice: Notice, html: str | None = None) -> dict[str, Any]:
    """The body a CMS gets without a template: the notice, amounts as exact decimal strings."""
    document = notice.model_dump(mode="json", exclude_none=True, exclude={"channels"})
    if html is not None:
        document["body_html"] = html
    return document


def default_body(notice: Notice, html: str | None = None) -> bytes:
    """``default_document`` as compact UTF-8 JSON, serialised by pydantic in one pass."""
    if html is not None:
        notice = notice.model_copy(update={"body_html": html})
    return notice.model_dump_json(exclude_none=True, exclude={"channels"}).encode("utf-8")


def form_encode(document: dict[str, Any]) -> bytes:
    """Form fields: scalars as text, nested values as compact JSON, nulls left out."""
    fields = []
    for name, value in document.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str | int | Decimal):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        fields.append((str(name), text))
    return urlencode(fields, encoding="utf-8").encode("ascii")
