"""cms_http against a real HTTP(S) server on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import pytest
from syndicate_adapters.cms_http import CmsHttpAdapter, CmsHttpOptions

from syndicate.adapter import DeliveryContext, Receipt
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice

if TYPE_CHECKING:
    from tests.peers.http import TlsFiles

pytestmark = pytest.mark.integration

T = TypeVar("T")

CTX = DeliveryContext(channel="website", idempotency_key="HY-GC-2016-001.v1.website")


def notice(**changes: Any) -> Notice:
    data: dict[str, Any] = {
        "id": "HY-GC-2016-001",
        "category": "construction",
        "notice_type": "tender",
        "project_code": "HYGC2016-001",
        "title": "河源市东江大桥维修工程施工招标公告",
        "body_html": "<p>招标条件……</p>",
        "summary": "东江大桥维修工程施工招标",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": "2016-03-01T09:00:00+08:00",
        "valid_until": "2016-03-21T17:00:00+08:00",
        "construction": {"max_price": {"value": "12345678.91", "unit": "元"}},
    }
    data.update(changes)
    return Notice.model_validate(data)


def adapter(url: str, **options: Any) -> CmsHttpAdapter:
    options.setdefault("allow_insecure_transport", True)  # the sink is plain http on loopback
    return CmsHttpAdapter("website", CmsHttpOptions.model_validate({"url": url, **options}))


def run(adapter: CmsHttpAdapter, body: Callable[[CmsHttpAdapter], Awaitable[T]]) -> T:
    """Run ``body`` on one event loop and close the adapter's client after it."""

    async def main() -> T:
        try:
            return await body(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def deliver(a: CmsHttpAdapter, n: Notice | None = None) -> Receipt:
    async def once(a: CmsHttpAdapter) -> Receipt:
        return await a.send(a.render(n or notice(), CTX), CTX)

    return run(a, once)


def attempts(a: CmsHttpAdapter, count: int) -> list[Receipt | DeliveryError]:
    """``count`` attempts of one delivery, the way the dispatcher repeats them."""

    async def tries(a: CmsHttpAdapter) -> list[Receipt | DeliveryError]:
        outcomes: list[Receipt | DeliveryError] = []
        for attempt in range(1, count + 1):
            ctx = DeliveryContext("website", CTX.idempotency_key, attempt=attempt)
            try:
                outcomes.append(await a.send(a.render(notice(), ctx), ctx))
            except DeliveryError as exc:
                outcomes.append(exc)
        return outcomes

    return run(a, tries)


def test_503_503_200_is_transient_twice_then_a_receipt_with_one_key(http_sink: HttpSink) -> None:
    http_sink.script("/api/notices", [Reply(503), Reply(503), Reply(200)])
    outcomes = attempts(adapter(f"{http_sink.url}/api/notices"), 3)

    assert [type(o) for o in outcomes] == [
        TransientDeliveryError,
        TransientDeliveryError,
        Receipt,
    ]
    assert all(o.status == "503" for o in outcomes[:2] if isinstance(o, DeliveryError))
    receipt = outcomes[2]
    assert isinstance(receipt, Receipt)
    assert receipt.status == "200"
    assert receipt.remote_id is not None
    assert receipt.remote_id.startswith("n-")
    assert receipt.url == f"{http_sink.url}/notices/{receipt.remote_id}"
    keys = {r.headers["idempotency-key"] for r in http_sink.requests}
    assert keys == {"HY-GC-2016-001.v1.website"}
    assert len(http_sink.requests) == 3


def test_a_repeated_delivery_gets_the_same_remote_id(http_sink: HttpSink) -> None:
    first, second = attempts(adapter(f"{http_sink.url}/n"), 2)
    assert isinstance(first, Receipt)
    assert isinstance(second, Receipt)
    assert first.remote_id == second.remote_id
    assert http_sink.duplicates == 1


def test_default_body_is_the_notice_with_exact_amounts(http_sink: HttpSink) -> None:
    deliver(adapter(f"{http_sink.url}/n"))
    request = http_sink.requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert b'"max_price":{"value":"12345678.91","unit":"\xe5\x85\x83"}' in request.body
    body = json.loads(request.body)
    assert body["title"] == "河源市东江大桥维修工程施工招标公告"
    assert body["region_code"] == "441600"
    assert body["publish_at"] == "2016-03-01T09:00:00+08:00"
    assert "channels" not in body


def test_400_is_permanent_with_the_servers_message(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(400, body=b'{"error": "project_code HYGC2016-001 unknown"}')])
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n"))
    assert caught.value.status == "400"
    assert "project_code HYGC2016-001 unknown" in caught.value.message


def test_401_says_the_credentials_were_refused_without_echoing_them(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(401, body=b"bad token s3cr3t-token")])
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n", auth={"type": "bearer", "token": "s3cr3t-token"}))
    assert caught.value.status == "401"
    assert "refused the credentials" in caught.value.message
    assert "s3cr3t-token" not in caught.value.message


def test_connection_refused_is_transient(closed_port: int) -> None:
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"http://127.0.0.1:{closed_port}/n"))
    assert "cannot connect" in caught.value.message


def test_retry_after_in_seconds_is_passed_on(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(429, headers={"Retry-After": "120"})])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n"))
    assert caught.value.status == "429"
    assert caught.value.retry_after == 120.0


def test_retry_after_as_an_http_date_is_passed_on(http_sink: HttpSink) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    http_sink.script("/n", [Reply(503, headers={"Retry-After": format_datetime(later, True)})])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n"))
    assert caught.value.retry_after is not None
    assert 3000 < caught.value.retry_after <= 3600


def test_bearer_header_reaches_the_server(http_sink: HttpSink) -> None:
    deliver(adapter(f"{http_sink.url}/n", auth={"type": "bearer", "token": "tok-441600"}))
    assert http_sink.requests[0].headers["authorization"] == "Bearer tok-441600"


def test_basic_header_reaches_the_server(http_sink: HttpSink) -> None:
    deliver(
        adapter(f"{http_sink.url}/n", auth={"type": "basic", "username": "hy", "password": "密码"})
    )
    scheme, _, encoded = http_sink.requests[0].headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode("utf-8") == "hy:密码"


def test_hmac_signatures_verify_with_both_keys(http_sink: HttpSink) -> None:
    auth = {
        "type": "hmac",
        "key_id": "portal-2016",
        "secret": "old-secret",
        "next_secret": "new-secret",
        "header": "X-Hy-Signature",
    }
    deliver(adapter(f"{http_sink.url}/n", method="PUT", auth=auth))
    request = http_sink.requests[0]
    assert request.method == "PUT"
    fields = [part.partition("=") for part in request.headers["x-hy-signature"].split(",")]
    assert fields[0] == ("keyId", "=", "portal-2016")
    assert fields[1][0] == "t"
    timestamp = fields[1][2]
    macs = [value for name, _, value in fields[2:] if name == "sha256"]
    message = f"{timestamp}.".encode() + request.body
    expected = [
        hmac.new(key, message, hashlib.sha256).hexdigest() for key in (b"old-secret", b"new-secret")
    ]
    assert macs == expected


def test_form_body(http_sink: HttpSink) -> None:
    deliver(adapter(f"{http_sink.url}/n", format="form"))
    request = http_sink.requests[0]
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    fields = dict(parse_qsl(request.body.decode("ascii"), strict_parsing=True))
    assert fields["title"] == "河源市东江大桥维修工程施工招标公告"
    assert fields["version"] == "1"
    assert json.loads(fields["publisher"]) == {"name": "河源市公共资源交易中心"}


def test_json_template_and_extra_headers(http_sink: HttpSink) -> None:
    template = (
        '{"biaoti": {{ notice.title | tojson }},'
        ' "bianhao": {{ notice.project_code | tojson }},'
        ' "fabu": {{ notice.publish_at | local_time | tojson }},'
        ' "key": {{ idempotency_key | tojson }}}'
    )
    deliver(adapter(f"{http_sink.url}/n", template=template, headers={"X-Site": "hyggzy"}))
    request = http_sink.requests[0]
    assert json.loads(request.body) == {
        "biaoti": "河源市东江大桥维修工程施工招标公告",
        "bianhao": "HYGC2016-001",
        "fabu": "2016-03-01 09:00",
        "key": "HY-GC-2016-001.v1.website",
    }
    assert request.headers["x-site"] == "hyggzy"


def test_form_template(http_sink: HttpSink) -> None:
    template = '{"lanmu": "gcjs", "title": {{ notice.title | tojson }}}'
    deliver(adapter(f"{http_sink.url}/n", format="form", template=template))
    fields = dict(parse_qsl(http_sink.requests[0].body.decode("ascii")))
    assert fields == {"lanmu": "gcjs", "title": "河源市东江大桥维修工程施工招标公告"}


def test_html_template_escapes_the_title(http_sink: HttpSink) -> None:
    evil = notice(title="东江大桥<script>alert(1)</script>")
    html = "<h1>{{ notice.title }}</h1>{{ notice.body_html | safe }}"
    deliver(adapter(f"{http_sink.url}/n", html_template=html), evil)
    body = json.loads(http_sink.requests[0].body)
    assert body["body_html"] == (
        "<h1>东江大桥&lt;script&gt;alert(1)&lt;/script&gt;</h1><p>招标条件……</p>"
    )


def test_hang_times_out_as_transient(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(hang=True)])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n", timeouts={"read": "300ms"}))
    assert "timed out (read)" in caught.value.message


def test_reset_before_answering_is_transient(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(reset="before")])
    with pytest.raises(TransientDeliveryError, match="connection broken"):
        deliver(adapter(f"{http_sink.url}/n"))


def test_reset_mid_response_is_transient(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(reset="mid")])
    with pytest.raises(TransientDeliveryError, match="connection broken"):
        deliver(adapter(f"{http_sink.url}/n"))


def test_200_that_is_not_json_is_transient(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(200, body=b"<html><body>Welcome</body></html>")])
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter(f"{http_sink.url}/n"))
    assert caught.value.status == "200"
    assert "not JSON with 'id'" in caught.value.message
    assert "Welcome" in caught.value.message


def test_remote_id_at_a_dotted_path(http_sink: HttpSink) -> None:
    answer = b'{"code": 0, "data": {"articleId": 8841, "link": "https://www.hyggzy.gov.cn/a/8841"}}'
    http_sink.script("/n", [Reply(201, body=answer)])
    receipt = deliver(
        adapter(f"{http_sink.url}/n", remote_id="data.articleId", remote_url="data.link")
    )
    assert receipt == Receipt(
        remote_id="8841", url="https://www.hyggzy.gov.cn/a/8841", status="201"
    )


def test_tls_with_an_unknown_ca_is_permanent(https_sink: HttpSink) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapter(f"{https_sink.url}/n"))
    assert "certificate verification failed" in caught.value.message
    assert https_sink.requests == []


def test_tls_with_the_ca_file_is_accepted(https_sink: HttpSink, tls_files: TlsFiles) -> None:
    options = {"url": f"{https_sink.url}/n", "ca_file": tls_files.ca_file.name}
    validated = CmsHttpOptions.model_validate(
        options, context={"base_dir": tls_files.ca_file.parent}
    )
    assert validated.ca_file == tls_files.ca_file
    receipt = deliver(CmsHttpAdapter("website", validated))
    assert receipt.status == "200"
    assert https_sink.requests[0].headers["idempotency-key"] == CTX.idempotency_key


def test_the_same_adapter_delivers_in_one_event_loop_after_another(http_sink: HttpSink) -> None:
    # The engine may run the worker several times (run(once=True), drain) with one
    # adapter instance; each run ends with aclose and the next must open a new client.
    a = adapter(f"{http_sink.url}/n")
    first = deliver(a)
    second = deliver(a)
    assert first.remote_id == second.remote_id
    assert len(http_sink.requests) == 2


def test_a_client_left_open_by_another_event_loop_is_not_reused(http_sink: HttpSink) -> None:
    # A run that ended without aclose leaves a client whose connections belong to
    # its loop; reusing it from another loop fails ("Event loop is closed").
    a = adapter(f"{http_sink.url}/n")
    first_loop = asyncio.new_event_loop()
    try:
        first = first_loop.run_until_complete(a.send(a.render(notice(), CTX), CTX))
        left_open = a._client
        second = deliver(a)
        assert left_open is not None
        first_loop.run_until_complete(left_open.close())
    finally:
        first_loop.close()
    assert first.remote_id == second.remote_id
    assert len(http_sink.requests) == 2


def test_many_sends_share_the_pool_and_sign_each_body(http_sink: HttpSink) -> None:
    a = adapter(f"{http_sink.url}/n", auth={"type": "hmac", "key_id": "k", "secret": "s"})

    async def burst(a: CmsHttpAdapter) -> list[Receipt]:
        sends = []
        for i in range(8):
            ctx = DeliveryContext("website", f"HY-GC-2016-{i:03}.v1.website")
            sends.append(a.send(a.render(notice(id=f"HY-GC-2016-{i:03}"), ctx), ctx))
        return list(await asyncio.gather(*sends))

    receipts = run(a, burst)
    assert len({r.remote_id for r in receipts}) == 8
    for request in http_sink.requests:
        fields = dict(part.split("=", 1) for part in request.headers["x-signature"].split(","))
        message = f"{fields['t']}.".encode() + request.body
        assert fields["sha256"] == hmac.new(b"s", message, hashlib.sha256).hexdigest()


def test_concurrency_caps_the_connections_of_the_channel(http_sink: HttpSink) -> None:
    http_sink.script("/n", [Reply(200, delay=1.0), Reply(200)])
    a = adapter(f"{http_sink.url}/n", timeouts={"pool": "100ms"})
    a.concurrency = 1

    async def two_at_once(a: CmsHttpAdapter) -> list[Receipt | BaseException]:
        slow = asyncio.create_task(a.send(a.render(notice(), CTX), CTX))
        await asyncio.sleep(0.2)  # the slow request holds the only connection
        waiting = a.send(a.render(notice(), CTX), CTX)
        return list(await asyncio.gather(slow, waiting, return_exceptions=True))

    slow, waiting = run(a, two_at_once)
    assert isinstance(slow, Receipt)
    assert isinstance(waiting, TransientDeliveryError)
    assert "waiting for a free connection" in waiting.message
    assert len(http_sink.requests) == 1
