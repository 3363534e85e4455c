"""The HTTP push transport shared by the adapters that hand a notice to a web service.

``HttpPushOptions`` is the options block (endpoint, auth, timeouts, TLS, proxy,
where the receipt is in the answer); ``HttpPushAdapter`` sends a rendered body
in one request per attempt over one pool of keep-alive connections per channel
(``_wire``; aiohttp's client where a proxy is configured, ``_proxied``), with the
delivery's ``Idempotency-Key`` (set at render) identical on every attempt and
the credentials applied at send time, never in the payload.

How an answer is classified:

    2xx with the expected JSON      Receipt(remote_id, url, status)
    2xx with any other body         in doubt: the server may or may not have
                                    taken it; the retry looks it up first (where
                                    the channel can) and carries the same key
    408 409 425 429, 5xx            transient, honouring Retry-After (seconds or
      (but 501, 505)                an HTTP date); 409 is how the idempotency-key
                                    draft says "a request with this key is in flight"
    401 403                         permanent: the credentials were refused
    3xx, other 4xx, 501, 505        permanent, with the server's own message
    refused, connect timeout        transient: the request never left
    reset, read timeout after       in doubt (InDoubtDeliveryError)
      the request was written
    certificate verify failed       permanent: a configuration problem (ca_file)

Secrets never leave in a message: server text quoted in an error has every
configured secret masked.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from syndicate.__version__ import __version__
from syndicate.adapter import (
    Adapter,
    ConfigFile,
    DeliveryContext,
    Landed,
    Options,
    Payload,
    Receipt,
)
from syndicate.config import Duration
from syndicate.errors import InDoubtDeliveryError, PermanentDeliveryError, TransientDeliveryError
from syndicate.masking import Masker
from syndicate.notice import Notice

from ._proxied import ProxiedClient
from ._wire import Answer, CertificateRejected, Pool, Transport, WireError

MAX_RESPONSE_BYTES = 1 << 20
"""An answer larger than this is cut off: a receipt is a few hundred bytes."""

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
"""An HTTP header name (RFC 9110 token), at most 100 characters."""

_SENSITIVE_NAME = re.compile(r"(?i)auth|key|token|secret|passw|signature|cookie|session")
"""Query parameters and configured headers whose values are treated as secrets."""

_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})


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
    header: str = Field(default="X-Signature", pattern=HEADER_NAME.pattern)

    _secret = field_validator("secret")(_not_empty)

    @field_validator("next_secret")
    @classmethod
    def _no_next(cls, value: SecretStr | None) -> SecretStr | None:
        # ``next_secret: ${NEXT}`` with NEXT empty means no rotation is under way.
        return value if value is not None and value.get_secret_value() else None


Auth = BearerAuth | BasicAuth | HmacAuth


class Timeouts(Options):
    """Connecting, reading the answer, writing the body, waiting for a pooled connection."""

    connect: Duration = Field(default=5.0, gt=0)
    read: Duration = Field(default=30.0, gt=0)
    write: Duration = Field(default=30.0, gt=0)
    pool: Duration = Field(default=5.0, gt=0)


class HttpPushOptions(Options):
    """Where a push goes, how we authenticate, how long we wait, whom we trust."""

    url: str = Field(description="http:// or https:// endpoint the notice is pushed to")
    auth: Auth | None = Field(default=None, discriminator="type")
    timeouts: Timeouts = Timeouts()
    verify: bool = True
    ca_file: ConfigFile | None = Field(default=None, description="CA bundle (PEM) to verify")
    proxy: str | None = Field(default=None, description="proxy URL; the environment is not used")
    remote_id: str | None = Field(default="id", description="dotted path of the id in the answer")
    remote_url: str | None = Field(default="url", description="dotted path of the URL")
    allow_insecure_transport: bool = Field(
        default=False, description="let auth travel over http:// in clear text (`check` warns)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in auth, not in the URL")
        return value

    @model_validator(mode="after")
    def _tls(self) -> HttpPushOptions:
        if self.ca_file is not None and not self.verify:
            raise ValueError("ca_file is given but verify is false; choose one")
        if self.insecure_auth() and not self.allow_insecure_transport:
            raise ValueError(
                "auth over http:// sends the credentials in clear text: use https://, "
                "or set allow_insecure_transport: true"
            )
        return self

    def insecure_auth(self) -> bool:
        """Whether credentials would cross the network unencrypted."""
        return self.auth is not None and urlsplit(self.url).scheme == "http"


OptionsT = TypeVar("OptionsT", bound=HttpPushOptions)


class HttpPushAdapter(Adapter[OptionsT]):
    """An adapter whose send is one HTTP request carrying ``payload.parts["body"]``.

    Subclasses declare ``kind`` and ``Options``, render, and may set ``method``.
    """

    method: str = "POST"

    def __init__(self, channel: str, options: OptionsT, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self._client: Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        auth = options.auth
        # Worked out once: only an HMAC signature depends on the body and the clock.
        self._auth_headers = static_auth_headers(auth)
        self._hmac = auth if isinstance(auth, HmacAuth) else None
        self._mask = Masker(self.secrets())

    def warnings(self) -> list[str]:
        if self.options.insecure_auth():
            return ["allow_insecure_transport: the credentials travel over http:// in clear text"]
        return []

    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        # A render may choose another request than the channel's own (an update, a retraction).
        method = str(payload.data.get("method", self.method))
        response, answer = await self._exchange(
            method, payload.target, payload.parts["body"], payload.headers
        )
        receipt = self._classify(response, answer, payload.data.get("receipt"))
        previous = ctx.previous
        if (
            payload.data.get("action") in ("update", "retract")
            and previous is not None
            and receipt.remote_id is None
        ):
            # An answer that names nothing (a 204 to a DELETE) acted on what the channel
            # carries: the ledger keeps pointing at that page, not at nothing.
            receipt = replace(
                receipt, remote_id=previous.remote_id, url=receipt.url or previous.remote_url
            )
        return receipt

    async def _exchange(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Answer, bytes]:
        """One request with the channel's credentials; the answer, its body cut at the limit."""
        if self._auth_headers:
            headers = {**headers, **self._auth_headers}
        if self._hmac is not None:
            headers = {**headers, self._hmac.header: hmac_signature(self._hmac, body)}
        try:
            return await self._http().request(method, url, body, headers)
        except CertificateRejected as exc:
            raise PermanentDeliveryError(
                f"{self.describe()}: TLS certificate verification failed ({exc.problem}); "
                "set ca_file to the CA that signed the server's certificate"
            ) from None
        except WireError as exc:
            kind = InDoubtDeliveryError if exc.maybe_sent else TransientDeliveryError
            raise kind(f"{self.describe()}: {exc}") from None

    async def read_back(self, notice: Notice, ctx: DeliveryContext, landed: Landed) -> str | None:
        """The page at the receipt's URL: its text, None if the site answers 404 or 410."""
        if not landed.remote_url:
            raise PermanentDeliveryError(f"{self.describe()}: the receipt has no URL to read back")
        response, answer = await self._exchange(
            "GET", landed.remote_url, b"", {"Accept": "text/html, application/json"}
        )
        if response.status_code in (404, 410):
            return None
        if not 200 <= response.status_code < 300:
            self._classify(response, answer)  # raises: the page could not be read
            raise TransientDeliveryError(f"{self.describe()}: HTTP {response.status_code}")
        return answer.decode(response.encoding or "utf-8", "replace")

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()

    # --- internals -----------------------------------------------------------

    def _http(self) -> Transport:
        """The channel's connections, made on first use in each event loop the worker runs in."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A pool left from a loop that has ended holds connections that loop
            # owned: unusable here, so it is dropped rather than reused.
            self._client, self._loop = self._new_client(), loop
        return self._client

    def _new_client(self) -> Transport:
        t = self.options.timeouts
        limit = self.concurrency or 100
        agent = f"syndicate/{__version__}"
        if self.options.proxy:
            return ProxiedClient(
                proxy=self.options.proxy,
                limit=limit,
                tls=self._tls(),
                connect=t.connect,
                read=t.read,
                wait=t.pool,
                user_agent=agent,
                max_body=MAX_RESPONSE_BYTES,
            )
        return Pool(
            limit=limit,
            tls=self._tls,
            connect=t.connect,
            read=t.read,
            write=t.write,
            wait=t.pool,
            user_agent=agent,
            max_body=MAX_RESPONSE_BYTES,
        )

    def _tls(self) -> ssl.SSLContext:
        """The system trust store, or only the operator's CA: never the environment's."""
        opts = self.options
        if not opts.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        cafile = str(opts.ca_file) if opts.ca_file is not None else None
        return ssl.create_default_context(cafile=cafile)

    def _classify(self, response: Answer, answer: bytes, paths: Any = None) -> Receipt:
        status = response.status_code
        code = str(status)
        where = f"{self.describe()}: HTTP {status} {response.reason_phrase}"
        if 200 <= status < 300:
            return self._receipt(answer, code, where, paths)
        message = server_message(answer, mask=self._redact)
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

    def _receipt(self, answer: bytes, code: str, where: str, paths: Any = None) -> Receipt:
        """The receipt in a 2xx answer, at the channel's paths or ``paths`` (an id and a URL)."""
        opts = self.options
        id_path, url_path = paths if paths is not None else (opts.remote_id, opts.remote_url)
        try:
            document = json.loads(answer)
        except ValueError:
            document = None
        remote_id = lookup(document, id_path) if id_path else None
        if id_path and remote_id is None:
            # Taken or not, nobody can say: the next attempt looks before it sends.
            raise InDoubtDeliveryError(
                f"{where} but the answer is not JSON with {id_path!r} "
                f"(set remote_id: null if this server answers without one): "
                f"{server_message(answer, mask=self._redact)}",
                status=code,
            )
        url = lookup(document, url_path) if url_path else None
        return Receipt(remote_id=remote_id, url=url, status=code)

    def _redact(self, text: str) -> str:
        return self._mask.mask(text)

    def secrets(self) -> list[str]:
        found = [*super().secrets(), *secrets_of(self.options.auth)]
        auth = self.options.auth
        if isinstance(auth, BasicAuth):
            found.append(f"{auth.username}:{auth.password.get_secret_value()}")
        for url in (self.options.url, self.options.proxy or ""):
            parts = urlsplit(url)
            found += [parts.password or ""]
            found += [v for k, v in parse_qsl(parts.query) if _SENSITIVE_NAME.search(k)]
        headers: Mapping[str, str] = getattr(self.options, "headers", None) or {}
        found += [v for k, v in headers.items() if _SENSITIVE_NAME.search(k)]
        return [s for s in found if s]


def static_auth_headers(auth: Auth | None) -> dict[str, str]:
    """The ``Authorization`` header of bearer and basic auth; empty for HMAC or none."""
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
    return {}


def secrets_of(auth: Auth | None) -> list[str]:
    """Every secret ``auth`` holds, in clear: what must never be quoted back."""
    if isinstance(auth, BearerAuth):
        return [auth.token.get_secret_value()]
    if isinstance(auth, BasicAuth):
        return [auth.password.get_secret_value()]
    if isinstance(auth, HmacAuth):
        extra = [auth.next_secret.get_secret_value()] if auth.next_secret else []
        return [auth.secret.get_secret_value(), *extra]
    return []


def hmac_signature(auth: HmacAuth, body: bytes, timestamp: int | None = None) -> str:
    """``keyId=<id>,t=<ts>,sha256=<hex>[,sha256=<hex>]``: one MAC per secret in force."""
    if timestamp is None:
        timestamp = int(time.time())
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


def server_message(
    answer: bytes, limit: int = 300, mask: Callable[[str], str] | None = None
) -> str:
    """The first ``limit`` characters of what the server said, tags and control characters out.

    ``mask`` runs on the whole answer first: a secret cut in half would escape it.
    """
    text = answer.decode("utf-8", errors="replace")
    if mask is not None:
        text = mask(text)
    text = re.sub(r"<[^<>]*>", " ", text)  # [^<>]: a lone < costs one pass, not one per <
    text = " ".join(text.split())
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"
