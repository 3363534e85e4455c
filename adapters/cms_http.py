"""Push notices to a CMS over HTTP: the trading website, the city government portal.

One request per attempt, ``POST`` (or ``PUT``) of a JSON or form body, with
``Idempotency-Key: <delivery key>`` identical on every attempt of a delivery,
so a CMS that de-duplicates never publishes a notice twice. The transport —
auth (bearer, basic, HMAC with key rotation), timeouts, TLS, and how an answer
becomes a receipt or a transient or permanent error — is ``_http``'s.

A CMS that ignores the key can still be published to exactly once: configure
``lookup`` (how to find a post by something we send and it stores, such as a
slug derived from the key), and ``update`` and ``retract`` (how to change or
take down the post an earlier version made); see ``_requests``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlencode

from pydantic import Field, PlainValidator, field_validator, model_validator

from syndicate.adapter import AnyOptions, DeliveryContext, Payload, Receipt
from syndicate.errors import PermanentDeliveryError
from syndicate.notice import Notice
from syndicate.rendering import Template, template_validator
from syndicate.store.base import Purpose

from ._http import HEADER_NAME, HttpPushAdapter, HttpPushOptions
from ._requests import (
    ChannelRequest,
    LookupRequest,
    check_expiry,
    choose,
    context,
    look_up,
    purposes,
    receipt_paths,
    render_json,
    render_url,
)

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
    lookup: LookupRequest | None = Field(
        default=None, description="finds a delivery whose last attempt is in doubt"
    )
    update: ChannelRequest | None = Field(
        default=None, description="replaces what an earlier version of the notice published"
    )
    retract: ChannelRequest | None = Field(
        default=None,
        description="takes down what an earlier version published (termination, withdrawal)",
    )
    expiry: bool = Field(
        default=False,
        description="at the notice's valid_until, send retract (or, without one, update)",
    )

    @model_validator(mode="after")
    def _expiry(self) -> Self:
        check_expiry(self.update, self.retract, self.expiry)
        return self

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

    @classmethod
    def purposes_for(cls, options: AnyOptions) -> frozenset[Purpose]:
        assert isinstance(options, CmsHttpOptions)
        return purposes(options.update, options.retract, options.expiry)

    def __init__(self, channel: str, options: CmsHttpOptions, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self.method = options.method
        self._media_type = _MEDIA_TYPES[options.format]
        self._content_type = f"{self._media_type}; charset=utf-8"

    def describe(self) -> str:
        return f"{self.options.method} {self.options.url}"

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        opts = self.options
        html = opts.html_template.render(notice) if opts.html_template is not None else None
        extra = context(notice, ctx, html)
        action = choose(notice, ctx, opts.update, opts.retract)
        request = {"create": None, "update": opts.update, "retract": opts.retract}[action]
        method: str = opts.method
        if request is None:
            target, paths = opts.url, None
            body = self._body(notice, opts.template, html, extra)
        else:
            target = render_url(request, notice, extra)
            method = request.method
            paths = receipt_paths(request, opts.remote_id, opts.remote_url, action)
            if request.template is not None or action == "update":
                body = self._body(notice, request.template or opts.template, html, extra)
            else:
                body = b""
        headers = {"Idempotency-Key": ctx.idempotency_key, **opts.headers}
        if body:
            headers = {"Content-Type": self._content_type, **headers}
        return Payload(
            self._media_type,
            {"body": body},
            headers=headers,
            target=target,
            data={"method": method, "receipt": paths, "action": action},
        )

    def _body(
        self,
        notice: Notice,
        template: Template | None,
        html: str | None,
        extra: dict[str, Any],
    ) -> bytes:
        if template is None:
            if self.options.format == "json":
                return default_body(notice, html)
            return form_encode(default_document(notice, html))
        text, document = render_json(template, notice, extra)
        if self.options.format == "json":
            return text.encode("utf-8")
        if not isinstance(document, dict):
            raise PermanentDeliveryError("a form template must render a JSON object")
        return form_encode(document)

    async def look_up(self, notice: Notice, ctx: DeliveryContext) -> Receipt | None:
        """The post an in-doubt attempt may have made, found by the ``lookup`` request.

        Only a creation is looked up: an update or a retraction sent twice
        leaves the post as once.
        """
        opts = self.options
        if opts.lookup is None or choose(notice, ctx, opts.update, opts.retract) != "create":
            return None
        html = opts.html_template.render(notice) if opts.html_template is not None else None
        return await look_up(self, opts.lookup, notice, context(notice, ctx, html))


def default_document(notice: Notice, html: str | None = None) -> dict[str, Any]:
    """The body a CMS gets without a template: the notice, amounts as exact decimal strings."""
    document = notice.model_dump(mode="json", exclude_none=True, exclude={"channels"})
    if html is not None:
        document["body_html"] = html
    return document


_SHARED_BODIES: dict[int, tuple[Notice, bytes]] = {}
"""The default body of recent notices: every channel of a notice sends the same one."""


def default_body(notice: Notice, html: str | None = None) -> bytes:
    """``default_document`` as compact UTF-8 JSON, serialised by pydantic in one pass.

    A notice is immutable, so its body is serialised once for all the channels that
    send it unchanged (the notice is kept with it: its id is not reused meanwhile).
    """
    if html is not None:
        notice = notice.model_copy(update={"body_html": html})
    else:
        shared = _SHARED_BODIES.get(id(notice))
        if shared is not None and shared[0] is notice:
            return shared[1]
    body = notice.model_dump_json(exclude_none=True, exclude={"channels"}).encode("utf-8")
    if html is None:
        if len(_SHARED_BODIES) >= 256:
            _SHARED_BODIES.clear()
        _SHARED_BODIES[id(notice)] = (notice, body)
    return body


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
