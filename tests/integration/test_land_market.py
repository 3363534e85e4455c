"""land_market: the structured land report, sent to a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError
from syndicate_adapters.land_market import LandMarketAdapter, LandMarketOptions

from syndicate.adapter import DeliveryContext, Receipt
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Deadlines, Nature, Notice
from syndicate.store.base import DeliveryState, EarlierDelivery

if TYPE_CHECKING:
    from tests.peers.http import TlsFiles

pytestmark = pytest.mark.integration

BEARER = {"type": "bearer", "token": "tok-tdsc"}
CTX = DeliveryContext(channel="land-market", idempotency_key="HY-TD-2016-012.v1.land-market")


def parcel(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "parcel_no": "HY2016-012",
        "location": "河源市源城区东环路与长塘路交汇处东北侧",
        "area_m2": "23456.78",
        "use": "城镇住宅用地",
        "term_years": 70,
        "plot_ratio": "1.0<容积率≤3.0",
        "start_price": {"value": "12345678.91", "unit": "万元"},
        "increment": {"value": "50", "unit": "万元"},
        "deposit": {"value": "2469135.78", "unit": "万元"},
    }
    data.update(changes)
    return data


def land_notice(notice_type: str = "transfer", **block: Any) -> Notice:
    land: dict[str, Any] = {
        "method": "listing",
        "parcels": [parcel()],
        "listing_start": "2016-06-01T09:00:00+08:00",
        "listing_end": "2016-06-14T16:00:00+08:00",
    }
    land.update(block)
    return Notice.model_validate(
        {
            "id": "HY-TD-2016-012",
            "category": "land_mineral",
            "notice_type": notice_type,
            "project_code": "HYTD2016-012",
            "title": "河源市国有建设用地使用权挂牌出让公告",
            "body_html": "<p>经河源市人民政府批准……</p>",
            "region_code": "441600",
            "publisher": {"name": "河源市公共资源交易中心"},
            "tenderer": {"name": "河源市国土资源局"},
            "publish_at": "2016-05-10T09:00:00+08:00",
            "land_mineral": land,
        }
    )


def adapter(url: str, **options: Any) -> LandMarketAdapter:
    return LandMarketAdapter(
        "land-market",
        LandMarketOptions.model_validate({"url": url, "allow_insecure_transport": True, **options}),
    )


def deliver(a: LandMarketAdapter, notice: Notice) -> Receipt:
    async def once() -> Receipt:
        try:
            return await a.send(a.render(notice, CTX), CTX)
        finally:
            await a.aclose()

    return asyncio.run(once())


def test_amounts_go_out_as_exact_decimal_text(http_sink: HttpSink) -> None:
    receipt = deliver(
        adapter(f"{http_sink.url}/report", auth=BEARER),
        land_notice(),
    )
    assert receipt.status == "200"
    assert receipt.remote_id is not None
    request = http_sink.requests[0]
    assert '"start_price":{"value":"12345678.91","unit":"万元"}'.encode() in request.body
    assert '"deposit":{"value":"2469135.78","unit":"万元"}'.encode() in request.body
    assert b'"area_m2":"23456.78"' in request.body
    assert request.headers["authorization"] == "Bearer tok-tdsc"
    assert request.headers["idempotency-key"] == CTX.idempotency_key
    report = json.loads(request.body)
    assert report["grantor"] == "河源市国土资源局"
    assert report["listing_end"] == "2016-06-14T16:00:00+08:00"
    assert report["parcels"][0]["plot_ratio"] == "1.0<容积率≤3.0"


def test_the_application_window_goes_with_the_listing_window(http_sink: HttpSink) -> None:
    notice = land_notice().model_copy(
        update={
            "deadlines": Deadlines.model_validate(
                {
                    "doc_sale_start": "2016-05-10T09:00:00+08:00",
                    "doc_sale_end": "2016-06-12T16:00:00+08:00",
                    "submission_deadline": "2016-06-12T16:00:00+08:00",
                }
            )
        }
    )
    deliver(adapter(f"{http_sink.url}/report"), notice)
    report = json.loads(http_sink.requests[0].body)
    assert report["deadlines"] == {
        "doc_sale_start": "2016-05-10T09:00:00+08:00",
        "doc_sale_end": "2016-06-12T16:00:00+08:00",
        "submission_deadline": "2016-06-12T16:00:00+08:00",
    }


def test_no_application_window_is_sent_as_none(http_sink: HttpSink) -> None:
    deliver(adapter(f"{http_sink.url}/report"), land_notice())
    report = json.loads(http_sink.requests[0].body)
    assert report["deadlines"] == {
        "doc_sale_start": None,
        "doc_sale_end": None,
        "submission_deadline": None,
    }


def test_a_deal_notice_carries_the_winner_and_price(http_sink: HttpSink) -> None:
    deal = land_notice(
        "deal",
        parcels=[
            parcel(winner="河源市某某置业有限公司", deal_price={"value": "15800.5", "unit": "万元"})
        ],
    )
    assert adapter(http_sink.url).check(deal) == []
    deliver(adapter(f"{http_sink.url}/report"), deal)
    sent = json.loads(http_sink.requests[0].body)["parcels"][0]
    assert sent["winner"] == "河源市某某置业有限公司"
    assert sent["deal_price"] == {"value": "15800.5", "unit": "万元"}


def test_check_names_every_missing_field() -> None:
    a = adapter("https://landchina.example/api/report")
    second = parcel(parcel_no="HY2016-013", winner="河源市某某公司")
    deal = land_notice("deal", parcels=[parcel(), second])
    assert a.check(deal) == [
        "land_mineral.parcels.0.winner",
        "land_mineral.parcels.0.deal_price",
        "land_mineral.parcels.1.deal_price",
    ]
    no_window = land_notice(listing_start=None, listing_end=None)
    assert a.check(no_window) == ["land_mineral.listing_start", "land_mineral.listing_end"]
    assert a.check(land_notice(method="auction", listing_start=None, listing_end=None)) == []
    with pytest.raises(PermanentDeliveryError, match=r"parcels\.0\.winner"):
        a.render(deal, CTX)


def test_check_refuses_other_categories_and_a_missing_block() -> None:
    a = adapter("https://landchina.example/api/report")
    base = land_notice().model_dump(mode="json", exclude_none=True)
    no_block = Notice.model_validate({**base, "land_mineral": None})
    assert a.check(no_block) == ["land_mineral block"]
    procurement = Notice.model_validate(
        {**base, "category": "procurement", "notice_type": "tender", "land_mineral": None}
    )
    assert a.check(procurement) == ["a land_mineral notice (this one is procurement)"]


def test_503_is_transient_with_retry_after(http_sink: HttpSink) -> None:
    http_sink.script("/report", [Reply(503, headers={"Retry-After": "30"})])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/report"), land_notice())
    assert caught.value.status == "503"
    assert caught.value.retry_after == 30.0


def test_422_is_permanent_with_the_sites_message(http_sink: HttpSink) -> None:
    http_sink.script("/report", [Reply(422, body="宗地编号重复".encode())])
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(
            adapter(f"{http_sink.url}/report", auth=BEARER),
            land_notice(),
        )
    assert caught.value.status == "422"
    assert "宗地编号重复" in caught.value.message


def test_refused_token_is_named(http_sink: HttpSink) -> None:
    http_sink.script("/report", [Reply(403, body=b"token tok-tdsc expired")])
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(
            adapter(f"{http_sink.url}/report", auth=BEARER),
            land_notice(),
        )
    assert "refused the credentials" in caught.value.message
    assert "tok-tdsc" not in caught.value.message


def test_basic_auth_as_configured_for_heyuan(http_sink: HttpSink) -> None:
    auth = {"type": "basic", "username": "hy441600", "password": "土地-pw"}
    deliver(adapter(f"{http_sink.url}/report", auth=auth), land_notice())
    scheme, _, encoded = http_sink.requests[0].headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode("utf-8") == "hy441600:土地-pw"


def test_connection_refused_is_transient(closed_port: int) -> None:
    with pytest.raises(TransientDeliveryError):
        deliver(adapter(f"http://127.0.0.1:{closed_port}/report"), land_notice())


def test_unverified_tls_is_permanent(https_sink: HttpSink) -> None:
    with pytest.raises(PermanentDeliveryError, match="certificate verification failed"):
        deliver(adapter(f"{https_sink.url}/report"), land_notice())


def test_hmac_auth_signs_the_report(http_sink: HttpSink) -> None:
    auth = {"type": "hmac", "key_id": "hy-td", "secret": "td-secret", "next_secret": "td-next"}
    deliver(adapter(f"{http_sink.url}/report", auth=auth), land_notice())
    request = http_sink.requests[0]
    assert "authorization" not in request.headers
    fields = [part.partition("=") for part in request.headers["x-signature"].split(",")]
    assert fields[0] == ("keyId", "=", "hy-td")
    message = f"{fields[1][2]}.".encode() + request.body
    assert [value for _, _, value in fields[2:]] == [
        hmac.new(key, message, hashlib.sha256).hexdigest() for key in (b"td-secret", b"td-next")
    ]


def test_retry_after_as_an_http_date_is_passed_on(http_sink: HttpSink) -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    http_sink.script("/report", [Reply(429, headers={"Retry-After": format_datetime(later, True)})])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/report"), land_notice())
    assert caught.value.status == "429"
    assert caught.value.retry_after is not None
    assert 500 < caught.value.retry_after <= 600


def test_a_secret_quoted_back_in_a_5xx_is_masked(http_sink: HttpSink) -> None:
    auth = {"type": "basic", "username": "hy441600", "password": "土地-pw"}
    http_sink.script("/report", [Reply(500, body="login hy441600/土地-pw failed".encode())])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/report", auth=auth), land_notice())
    assert "土地-pw" not in caught.value.message
    assert "hy441600/***" in caught.value.message


def test_a_redirect_is_permanent_and_names_the_target(http_sink: HttpSink) -> None:
    http_sink.script("/report", [Reply(301, headers={"Location": "https://new.example/r"})])
    with pytest.raises(PermanentDeliveryError, match=r"redirected to https://new\.example/r"):
        deliver(adapter(f"{http_sink.url}/report"), land_notice())


def test_the_ca_file_is_trusted_relative_to_the_config(
    https_sink: HttpSink, tls_files: TlsFiles
) -> None:
    options = LandMarketOptions.model_validate(
        {"url": f"{https_sink.url}/report", "ca_file": tls_files.ca_file.name},
        context={"base_dir": tls_files.ca_file.parent},
    )
    assert options.ca_file == tls_files.ca_file
    receipt = deliver(LandMarketAdapter("land-market", options), land_notice())
    assert receipt.status == "200"


def test_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        LandMarketOptions.model_validate(
            {"url": "https://landchina.example/r", "ca_file": "missing.pem"},
            context={"base_dir": tmp_path},
        )


def test_a_later_version_updates_the_earlier_report_and_a_termination_withdraws_it(
    http_sink: HttpSink,
) -> None:
    a = adapter(
        f"{http_sink.url}/report",
        update={"method": "PUT", "url": f"{http_sink.url}/report/{{{{ previous.remote_id }}}}"},
        retract={
            "method": "POST",
            "url": f"{http_sink.url}/report/{{{{ previous.remote_id }}}}/withdraw",
            "template": '{"reason": {{ notice.title | tojson }}}',
        },
    )
    earlier = EarlierDelivery(1, DeliveryState.delivered, "rpt-12", None)
    ctx = DeliveryContext("land-market", "HY-TD-2016-012.v2.land-market", previous=earlier)
    corrected = land_notice().model_copy(update={"version": 2})
    terminated = land_notice().model_copy(update={"version": 3, "nature": Nature.termination})

    async def both() -> None:
        try:
            await a.send(a.render(corrected, ctx), ctx)
            await a.send(a.render(terminated, ctx), ctx)
        finally:
            await a.aclose()

    asyncio.run(both())
    update, withdraw = http_sink.requests
    assert (update.method, update.path) == ("PUT", "/report/rpt-12")
    assert json.loads(update.body)["version"] == 2
    assert (withdraw.method, withdraw.path) == ("POST", "/report/rpt-12/withdraw")
    assert json.loads(withdraw.body) == {"reason": "河源市国有建设用地使用权挂牌出让公告"}
