"""Report land and mineral notices to the China Land Market site (中国土地市场网).

The site takes a structured JSON report, not a page: one entry per parcel with
宗地编号, 坐落, 面积, 用途, 出让年限, 容积率, 起始价, 加价幅度, 保证金, the listing
window and, for results and deals, 竞得人 and 成交价. ``check`` names every
field a notice lacks, so it is refused at enqueue instead of failing here.

Amounts go out as exact decimal strings with their unit
(``{"value": "12345678.91", "unit": "万元"}``), never through a float.
Answers are classified as for any HTTP push: 2xx with the JSON receipt is
delivered, a 2xx without it, 408/409/425/429 and 5xx (but 501/505) are
transient, TLS verification failures and other statuses permanent.
"""

from __future__ import annotations

import base64
import json
import ssl
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from syndicate import __version__
from syndicate.adapter import Adapter, DeliveryContext, Options, Payload, Receipt
from syndicate.config import Duration
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Amount, Category, LandMethod, Notice, NoticeType, Parcel

SCHEMA = "syndicate.land_market/1"
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
_PERMANENT_5XX = frozenset({501, 505})
_DEAL_TYPES = frozenset({NoticeType.result, NoticeType.deal})


class Timeouts(Options):
    """Connecting, reading the answer, writing the body, waiting for a pooled connection."""

    connect: Duration = Field(default=5.0, gt=0)
    read: Duration = Field(default=30.0, gt=0)
    write: Duration = Field(default=30.0, gt=0)
    pool: Duration = Field(default=5.0, gt=0)


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
    """``Authorization: Basic``: the account the site issued to the trading center."""

    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr

    _password = field_validator("password")(_not_empty)


class LandMarketOptions(Options):
    """The land market reporting endpoint and how we authenticate to it."""

    url: str = Field(description="https:// endpoint that takes the JSON report")
    auth: BearerAuth | BasicAuth | None = Field(default=None, discriminator="type")
    timeouts: Timeouts = Timeouts()
    verify: bool = True
    ca_file: Path | None = Field(default=None, description="CA bundle (PEM) to verify the server")
    remote_id: str = Field(default="id", description="key of the report id in the answer")
    remote_url: str = Field(default="url", description="key of the public URL in the answer")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put credentials in auth, not in the URL")
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


class LandMarketAdapter(Adapter[LandMarketOptions]):
    """Sends one structured report per land or mineral notice version."""

    kind: ClassVar[str] = "land_market"
    Options: ClassVar[type[LandMarketOptions]] = LandMarketOptions

    def __init__(self, channel: str, options: LandMarketOptions) -> None:
        super().__init__(channel, options)
        self._client: httpx.AsyncClient | None = None

    def describe(self) -> str:
        return f"POST {self.options.url} (land market report)"

    def check(self, notice: Notice) -> list[str]:
        if notice.category is not Category.land_mineral:
            return [f"a land_mineral notice (this one is {notice.category.value})"]
        block = notice.land_mineral
        if block is None:
            return ["land_mineral block"]
        missing = []
        if notice.notice_type is NoticeType.transfer and block.method is LandMethod.listing:
            missing += [
                f"land_mineral.{name}"
                for name in ("listing_start", "listing_end")
                if getattr(block, name) is None
            ]
        if notice.notice_type in _DEAL_TYPES:
            for i, parcel in enumerate(block.parcels):
                missing += [
                    f"land_mineral.parcels.{i}.{name}"
                    for name in ("winner", "deal_price")
                    if getattr(parcel, name) is None
                ]
        return missing

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        missing = self.check(notice)
        if missing or notice.land_mineral is None:
            raise PermanentDeliveryError("the land market report needs " + ", ".join(missing))
        block = notice.land_mineral
        grantor = notice.tenderer or notice.publisher
        report: dict[str, Any] = {
            "schema": SCHEMA,
            "report_id": ctx.idempotency_key,
            "notice_id": notice.id,
            "version": notice.version,
            "nature": notice.nature.value,
            "notice_type": notice.notice_type.value,
            "project_code": notice.project_code,
            "title": notice.title,
            "region_code": notice.region_code,
            "grantor": grantor.name,
            "grantor_credit_code": grantor.credit_code,
            "publisher": notice.publisher.name,
            "publish_at": notice.publish_at.isoformat(),
            "valid_until": _time(notice.valid_until),
            "method": block.method.value,
            "listing_start": _time(block.listing_start),
            "listing_end": _time(block.listing_end),
            "parcels": [_parcel(p) for p in block.parcels],
        }
        body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": ctx.idempotency_key,
        }
        return Payload("application/json", {"body": body}, headers=headers, target=self.options.url)

    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        headers = {**payload.headers, **self._auth_headers()}
        where = self.describe()
        try:
            response = await self._http().post(
                payload.target, content=payload.parts["body"], headers=headers
            )
        except httpx.TimeoutException as exc:
            phase = type(exc).__name__.removesuffix("Timeout").lower() or "request"
            raise TransientDeliveryError(f"{where}: timed out ({phase})") from None
        except httpx.TransportError as exc:
            if _verify_failed(exc):
                raise PermanentDeliveryError(
                    f"{where}: TLS certificate verification failed; set ca_file to the CA "
                    "that signed the server's certificate"
                ) from None
            raise TransientDeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
        return self._classify(response)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            opts, t = self.options, self.options.timeouts
            verify: ssl.SSLContext | bool = False
            if opts.verify:
                cafile = str(opts.ca_file) if opts.ca_file is not None else None
                verify = ssl.create_default_context(cafile=cafile)
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                verify=verify,
                trust_env=False,
                headers={"User-Agent": f"syndicate/{__version__}"},
            )
        return self._client

    def _auth_headers(self) -> dict[str, str]:
        auth = self.options.auth
        if isinstance(auth, BearerAuth):
            return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
        if isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        return {}

    def _classify(self, response: httpx.Response) -> Receipt:
        status, code = response.status_code, str(response.status_code)
        where = f"{self.describe()}: HTTP {status} {response.reason_phrase}"
        text = " ".join(response.text.split())[:300] or "(empty body)"
        auth = self.options.auth
        if auth is not None:
            secret = auth.token if isinstance(auth, BearerAuth) else auth.password
            text = text.replace(secret.get_secret_value(), "***")
        if 200 <= status < 300:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            remote_id = _scalar(answer, self.options.remote_id)
            if remote_id is None:
                raise TransientDeliveryError(
                    f"{where} but the answer is not JSON with {self.options.remote_id!r}: {text}",
                    status=code,
                )
            url = _scalar(answer, self.options.remote_url)
            return Receipt(remote_id=remote_id, url=url, status=code)
        if status in _TRANSIENT_STATUSES or (status >= 500 and status not in _PERMANENT_5XX):
            after = response.headers.get("Retry-After", "")
            retry_after = float(after) if after.strip().isdigit() else None
            raise TransientDeliveryError(f"{where}: {text}", status=code, retry_after=retry_after)
        if status in (401, 403):
            text = f"the site refused the credentials (check auth in channels.yaml): {text}"
        raise PermanentDeliveryError(f"{where}: {text}", status=code)


def _amount(amount: Amount | None) -> dict[str, str] | None:
    # "f" formatting: an exact decimal without exponent ("1E+3" would be valid JSON
    # text but not what the site's form fields expect).
    return None if amount is None else {"value": f"{amount.value:f}", "unit": amount.unit}


def _decimal(value: Decimal) -> str:
    return f"{value:f}"


def _time(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())


def _parcel(parcel: Parcel) -> dict[str, Any]:
    return {
        "parcel_no": parcel.parcel_no,
        "location": parcel.location,
        "area_m2": _decimal(parcel.area_m2),
        "use": parcel.use,
        "term_years": parcel.term_years,
        "plot_ratio": parcel.plot_ratio,
        "start_price": _amount(parcel.start_price),
        "increment": _amount(parcel.increment),
        "deposit": _amount(parcel.deposit),
        "winner": parcel.winner,
        "deal_price": _amount(parcel.deal_price),
    }


def _scalar(document: Any, key: str) -> str | None:
    value = document.get(key) if isinstance(document, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _verify_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
