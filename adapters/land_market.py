"""Report land and mineral notices to the China Land Market site (中国土地市场网).

The site takes a structured JSON report, not a page: one entry per parcel with
宗地编号, 坐落, 面积, 用途, 出让年限, 容积率, 起始价, 加价幅度, 保证金, the listing
window and, for results and deals, 竞得人 and 成交价. ``check`` names every
field a notice lacks, so it is refused at enqueue instead of failing here.

Amounts go out as exact decimal strings with their unit
(``{"value": "12345678.91", "unit": "万元"}``), never through a float.
The transport — auth (bearer, basic, HMAC), timeouts, TLS, and how an answer
becomes a receipt or a transient or permanent error — is ``_http``'s, the same
as cms_http's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar, Self

from pydantic import model_validator

from syndicate.adapter import AnyOptions, DeliveryContext, Payload, Receipt
from syndicate.errors import PermanentDeliveryError
from syndicate.notice import Amount, Category, LandMethod, Notice, NoticeType, Parcel
from syndicate.store.base import Purpose

from ._http import HttpPushAdapter, HttpPushOptions
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

SCHEMA = "syndicate.land_market/1"
_DEAL_TYPES = frozenset({NoticeType.result, NoticeType.deal})


class LandMarketOptions(HttpPushOptions):
    """The land market reporting endpoint and how we authenticate to it.

    ``lookup``, ``update`` and ``retract`` as for cms_http: a result or a
    correction can replace the report an earlier version made, a termination
    can withdraw it, and an attempt in doubt is looked up before it is resent.
    """

    lookup: LookupRequest | None = None
    update: ChannelRequest | None = None
    retract: ChannelRequest | None = None
    expiry: bool = False  # at valid_until, send retract (or, without one, update)

    @model_validator(mode="after")
    def _expiry(self) -> Self:
        check_expiry(self.update, self.retract, self.expiry)
        return self


class LandMarketAdapter(HttpPushAdapter[LandMarketOptions]):
    """Sends one structured report per land or mineral notice version."""

    kind: ClassVar[str] = "land_market"
    Options: ClassVar[type[LandMarketOptions]] = LandMarketOptions

    @classmethod
    def purposes_for(cls, options: AnyOptions) -> frozenset[Purpose]:
        assert isinstance(options, LandMarketOptions)
        return purposes(options.update, options.retract, options.expiry)

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
        deadlines = notice.deadlines
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
            # 出让文件获取 and 竞买申请截止: the site shows them with the listing window, and a
            # medium that left them out would not carry what the others do (实施条例 §15).
            "deadlines": {
                "doc_sale_start": _time(deadlines.doc_sale_start if deadlines else None),
                "doc_sale_end": _time(deadlines.doc_sale_end if deadlines else None),
                "submission_deadline": _time(deadlines.submission_deadline if deadlines else None),
            },
            "parcels": [_parcel(p) for p in block.parcels],
        }
        body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        opts = self.options
        action = choose(notice, ctx, opts.update, opts.retract)
        request = {"create": None, "update": opts.update, "retract": opts.retract}[action]
        target, method, paths = opts.url, self.method, None
        if request is not None:
            extra = context(notice, ctx, None)
            target, method = render_url(request, notice, extra), request.method
            paths = receipt_paths(request, opts.remote_id, opts.remote_url, action)
            if request.template is not None:
                body = render_json(request.template, notice, extra)[0].encode("utf-8")
            elif action == "retract":
                body = b""
        headers = {"Idempotency-Key": ctx.idempotency_key}
        if body:
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        return Payload(
            "application/json",
            {"body": body},
            headers=headers,
            target=target,
            data={"method": method, "receipt": paths, "action": action},
        )

    async def look_up(self, notice: Notice, ctx: DeliveryContext) -> Receipt | None:
        """The report an in-doubt attempt may have filed (a creation only), by ``lookup``."""
        opts = self.options
        if opts.lookup is None or choose(notice, ctx, opts.update, opts.retract) != "create":
            return None
        return await look_up(self, opts.lookup, notice, context(notice, ctx, None))


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
