"""Push notices to a CMS over HTTP: the trading website, the city government portal.

One request per attempt, ``POST`` (or ``PUT``) of a JSON or form body, with
``Idempotency-Key: <delivery key>`` identical on every attempt of a delivery,
so a CMS that de-duplicates never publishes a notice twice.

How an answer is classified:

    2xx with the expected JSON      Receipt(remote_id, url, status)
    2xx with any other body         transient: the CMS may or may not have taken
                                    it; the retry carries the same key
    408 409 425 429, 5xx            transient, honouring Retry-After (seconds or
      (but 501, 505)                an HTTP date); 409 is how the idempotency-key
                                    draft says "a request with this key is in flight"
    401 403                         permanent: the credentials were refused
    3xx, other 4xx, 501, 505        permanent, with the server's own message
    refused, reset, timeout         transient
    certificate verify failed       permanent: a configuration problem (ca_file)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
import time
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import (
    Field,
    PlainValidator,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from syndicate import __version__
from syndicate.adapter import Adapter, DeliveryContext, Options, Payload, Receipt
from syndicate.config import Duration
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.rendering import Template, template_validator

MAX_RESPONSE_BYTES = 1 << 20
"""A CMS answer larger than this is cut off: a receipt is a few hundred bytes."""

_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})
_RESERVED_HEADERS = frozenset({"idempotency-key", "content-length", "host", "transfer-encoding"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")


def _not_empty(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("is empty (is its environment variable set?)")
    return value


class BearerAuth(Options):
    """``Authorization: Bearer <token>``."""

    type: Literal["bearer"]
    token: SecretStr

    _token = field_validator("token")(_not_empty)


class BasicAuth(Options):
    """``Authorization: Basic``, user name and password."""

    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr

    _password = field_validator("password")(_not_empty)


class HmacAuth(Options):
    """HMAC-SHA256 over ``<timestamp>.<body>``; ``next_secret`` signs too, for key rotation."""

    type: Literal["hmac"]
    key_id: str = Field(pattern=r"^[\w.-]{1,100}$")
    secret: SecretStr
    next_secret: SecretStr | None = None
    header: str = Field(default="X-Signature", pattern=_HEADER_NAME.pattern)

    _secret = field_validator("secret")(_not_empty)

    @field_validator("next_secret")
    @classmethod
    def _no_next(cls, value: SecretStr | None) -> SecretStr | None:
        # ``next_secret: ${NEXT}`` with NEXT empty means no rotation is under way.
        return value if value is not None and value.get_secret_value() else None


class Timeouts(Options):
    """Connecting, reading the answer, writing the body, waiting for a pooled connection."""

    connect: Duration = Field(default=5.0, gt=0)
    read: Duration = Field(default=30.0, gt=0)
    write: Duration = Field(default=30.0, gt=0)
    pool: Duration = Field(default=5.0, gt=0)


class CmsHttpOptions(Options):
    """A CMS endpoint: where, how the body is shaped, how we authenticate."""

    url: str = Field(description="http:// or https:// endpoint the notice is pushed to")
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
    auth: BearerAuth | BasicAuth | HmacAuth | None = Field(default=None, discriminator="type")
    timeouts: Timeouts = Timeouts()
    verify: bool = True
    ca_file: Path | None = Field(default=None, description="CA bundle (PEM) to verify the server")
    proxy: str | None = Field(default=None, description="proxy URL; the environment is not used")
    remote_id: str | None = Field(default="id", description="dotted path of the id in the answer")
    remote_url: str | None = Field(default="url", description="dotted path of the URL")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in auth, not in the URL")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name} is set by syndicate and cannot be overridden")
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
                raise ValueError(f"header {name} contains a control character")
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        if not value.is_absolute() and base is not None:
            value = Path(base) / value
        if not value.is_file():
            raise ValueError(f"CA file {value} does not exist")
        return value

    @model_validator(mode="after")
    def _tls(self) -> CmsHttpOptions:
        if self.ca_file is not None and not self.verify:
            raise ValueError("ca_file is given but verify is false; choose one")
        return self


class CmsHttpAdapter(Adapter[CmsHttpOptions]):
    """Pushes each notice to one CMS endpoint with one reused connection pool."""

    kind: ClassVar[str] = "cms_http"
    Options: ClassVar[type[CmsHttpOptions]] = CmsHttpOptions

    def __init__(self, channel: str, options: CmsHttpOptions) -> None:
        super().__init__(channel, options)
        self._client: httpx.AsyncClient | None = None

    def describe(self) -> str:
        return f"{self.options.method} {self.options.url}"

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        opts = self.options
        html = opts.html_template.render(notice) if opts.html_template is not None else None
        text: str | None = None
        if opts.template is not None:
            text = opts.template.render(notice, html=html, idempotency_key=ctx.idempotency_key)
            try:
                document: Any = json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                raise PermanentDeliveryError(f"template output is not valid JSON: {exc}") from None
        else:
            document = default_document(notice, html)
        if opts.format == "json":
            if text is None:
                text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            body, media_type = text.encode("utf-8"), "application/json"
        else:
            if not isinstance(document, dict):
                raise PermanentDeliveryError("a form template must render a JSON object")
            body, media_type = form_encode(document), "application/x-www-form-urlencoded"
        headers = {
            "Content-Type": f"{media_type}; charset=utf-8",
            "Idempotency-Key": ctx.idempotency_key,
            **opts.headers,
        }
        return Payload(media_type, {"body": body}, headers=headers, target=opts.url)

    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        body = payload.parts["body"]
        headers = {**payload.headers, **self._auth_headers(body)}
        where = self.describe()
        try:
            async with self._http().stream(
                self.options.method, payload.target, content=body, headers=headers
            ) as response:
                answer = bytearray()
                async for chunk in response.aiter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_RESPONSE_BYTES:
                        break
        except httpx.TimeoutException as exc:
            phase = type(exc).__name__.removesuffix("Timeout").lower() or "request"
            raise TransientDeliveryError(f"{where}: timed out ({phase})") from None
        except httpx.TransportError as exc:
            problem = _certificate_problem(exc)
            if problem is not None:
                raise PermanentDeliveryError(
                    f"{where}: TLS certificate verification failed ({problem}); "
                    "set ca_file to the CA that signed the server's certificate"
                ) from None
            raise TransientDeliveryError(f"{where}: {_transport_reason(exc)}") from None
        return self._classify(response, bytes(answer))

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- internals -----------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            opts = self.options
            verify: ssl.SSLContext | bool = False
            if opts.verify:
                # The system trust store, or only the operator's CA: never the environment's.
                cafile = str(opts.ca_file) if opts.ca_file is not None else None
                verify = ssl.create_default_context(cafile=cafile)
            t = opts.timeouts
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                verify=verify,
                proxy=opts.proxy,
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": f"syndicate/{__version__}"},
            )
        return self._client

    def _auth_headers(self, body: bytes) -> dict[str, str]:
        auth = self.options.auth
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
        if isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        if isinstance(auth, HmacAuth):
            return {auth.header: hmac_signature(auth, body, int(time.time()))}
        return {}

    def _classify(self, response: httpx.Response, answer: bytes) -> Receipt:
        status = response.status_code
        code = str(status)
        where = f"{self.describe()}: HTTP {status} {response.reason_phrase}"
        if 200 <= status < 300:
            return self._receipt(answer, code, where)
        message = self._redact(server_message(answer))
        if status in _TRANSIENT_STATUSES or (status >= 500 and status not in _PERMANENT_5XX):
            raise TransientDeliveryError(
                f"{where}: {message}",
                status=code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status in (401, 403):
            what = "refused the credentials" if self.options.auth else "wants credentials"
            raise PermanentDeliveryError(
                f"{where}: the server {what} (check auth in channels.yaml): {message}",
                status=code,
            )
        if 300 <= status < 400:
            location = response.headers.get("Location", "?")
            raise PermanentDeliveryError(
                f"{where}: redirected to {location}; configure the final URL", status=code
            )
        raise PermanentDeliveryError(f"{where}: {message}", status=code)

    def _receipt(self, answer: bytes, code: str, where: str) -> Receipt:
        opts = self.options
        try:
            document = json.loads(answer)
        except ValueError:
            document = None
        remote_id = lookup(document, opts.remote_id) if opts.remote_id else None
        if opts.remote_id and remote_id is None:
            raise TransientDeliveryError(
                f"{where} but the answer is not JSON with {opts.remote_id!r} "
                f"(set remote_id: null if this server answers without one): "
                f"{self._redact(server_message(answer))}",
                status=code,
            )
        url = lookup(document, opts.remote_url) if opts.remote_url else None
        return Receipt(remote_id=remote_id, url=url, status=code)

    def _redact(self, text: str) -> str:
        for secret in filter(None, _secrets(self.options.auth)):
            text = text.replace(secret, "***")
        return text


def _secrets(auth: BearerAuth | BasicAuth | HmacAuth | None) -> list[str]:
    if isinstance(auth, BearerAuth):
        return [auth.token.get_secret_value()]
    if isinstance(auth, BasicAuth):
        return [auth.password.get_secret_value()]
    if isinstance(auth, HmacAuth):
        extra = [auth.next_secret.get_secret_value()] if auth.next_secret else []
        return [auth.secret.get_secret_value(), *extra]
    return []


def default_document(notice: Notice, html: str | None = None) -> dict[str, Any]:
    """The body a CMS gets without a template: the notice, amounts as exact decimal strings."""
    document = notice.model_dump(mode="json", exclude_none=True, exclude={"channels"})
    if html is not None:
        document["body_html"] = html
    return document


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


def hmac_signature(auth: HmacAuth, body: bytes, timestamp: int) -> str:
    """``keyId=<id>,t=<ts>,sha256=<hex>[,sha256=<hex>]``: one MAC per secret in force."""
    message = f"{timestamp}.".encode() + body
    secrets = [auth.secret] + ([auth.next_secret] if auth.next_secret else [])
    macs = [
        hmac.new(s.get_secret_value().encode("utf-8"), message, hashlib.sha256).hexdigest()
        for s in secrets
    ]
    return ",".join([f"keyId={auth.key_id}", f"t={timestamp}", *(f"sha256={m}" for m in macs)])


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date; None if unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def lookup(document: Any, path: str) -> str | None:
    """The scalar at a dotted path (``data.id``, ``items.0.id``) as text, or None."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def server_message(answer: bytes, limit: int = 300) -> str:
    """The first ``limit`` characters of what the server said, tags and control characters out."""
    text = answer.decode("utf-8", errors="replace")
    text = re.sub(r"<[^>]*>", " ", text)
    text = " ".join(text.split())
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"


def _certificate_problem(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate not trusted")
        seen = seen.__cause__ or seen.__context__
    return None


def _transport_reason(exc: httpx.TransportError) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {detail}"
    if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError):
        return f"connection broken before a complete answer: {detail}"
    if isinstance(exc, httpx.WriteError):
        return f"connection broken while sending: {detail}"
    return detail
