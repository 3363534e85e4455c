"""cms_http and the shared HTTP transport, without a network: options, rendering, parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pydantic import ValidationError
from syndicate_adapters._http import (
    HmacAuth,
    hmac_signature,
    lookup,
    parse_retry_after,
    server_message,
)
from syndicate_adapters.cms_http import (
    CmsHttpAdapter,
    CmsHttpOptions,
    default_body,
    default_document,
    form_encode,
)

from syndicate.adapter import DeliveryContext
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.store.base import DeliveryState, EarlierDelivery

REPO = Path(__file__).resolve().parents[2]
NOTICE_FILES = sorted((REPO / "examples" / "notices").glob("*.json")) + sorted(
    (REPO / "tests" / "corpus" / "hostile-valid").glob("*.json")
)

CTX = DeliveryContext(channel="portal", idempotency_key="HY-CG-2016-007.v2.portal")


def notice(**changes: Any) -> Notice:
    data: dict[str, Any] = {
        "id": "HY-CG-2016-007",
        "version": 2,
        "nature": "correction",
        "category": "procurement",
        "notice_type": "tender",
        "project_code": "HYCG2016-007",
        "title": "河源市第一中学教学设备采购项目更正公告",
        "body_html": "<p>更正事项……</p>",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": "2016-05-10T10:00:00+08:00",
        "procurement": {
            "method": "open_tender",
            "budget": {"value": "12345678.91", "unit": "万元"},
        },
    }
    data.update(changes)
    return Notice.model_validate(data)


def adapter(**options: Any) -> CmsHttpAdapter:
    options.setdefault("url", "https://www.heyuan.gov.cn/api/notices")
    return CmsHttpAdapter("portal", CmsHttpOptions.model_validate(options))


def test_default_json_body_keeps_amounts_exact() -> None:
    payload = adapter().render(notice(), CTX)
    body = payload.parts["body"]
    assert '"budget":{"value":"12345678.91","unit":"万元"}'.encode() in body
    document = json.loads(body)
    assert document["version"] == 2
    assert document["nature"] == "correction"
    assert document["procurement"]["method"] == "open_tender"
    assert payload.headers["Idempotency-Key"] == "HY-CG-2016-007.v2.portal"
    assert payload.target == "https://www.heyuan.gov.cn/api/notices"


def test_render_is_the_same_for_every_attempt() -> None:
    a = adapter(auth={"type": "hmac", "key_id": "k", "secret": "s"})
    later = DeliveryContext("portal", CTX.idempotency_key, attempt=5)
    assert a.render(notice(), CTX).digest() == a.render(notice(), later).digest()


def test_auth_headers_are_not_part_of_the_payload() -> None:
    payload = adapter(auth={"type": "bearer", "token": "tok-secret"}).render(notice(), CTX)
    assert "Authorization" not in payload.headers
    assert "tok-secret" not in payload.preview()


def test_form_encode_flattens_nested_values() -> None:
    encoded = form_encode({"a": "河源", "n": 3, "ok": True, "skip": None, "obj": {"x": [1]}})
    assert dict(parse_qsl(encoded.decode("ascii"))) == {
        "a": "河源",
        "n": "3",
        "ok": "true",
        "obj": '{"x":[1]}',
    }


def test_form_template_must_render_an_object() -> None:
    with pytest.raises(PermanentDeliveryError, match="JSON object"):
        adapter(format="form", template="[1, 2]").render(notice(), CTX)


def test_template_that_renders_broken_json_is_permanent() -> None:
    a = adapter(template='{"title": "{{ notice.title }}"')
    with pytest.raises(PermanentDeliveryError, match="not valid JSON"):
        a.render(notice(), CTX)


def test_html_template_autoescapes_and_feeds_the_json_template() -> None:
    evil = notice(title="设备<script>alert(1)</script>采购")
    a = adapter(
        html_template="<h2>{{ notice.title }}</h2>",
        template='{"content": {{ html | tojson }}}',
    )
    content = json.loads(a.render(evil, CTX).parts["body"])["content"]
    assert content == "<h2>设备&lt;script&gt;alert(1)&lt;/script&gt;采购</h2>"


def test_hmac_signature_signs_timestamp_and_body_with_each_secret() -> None:
    auth = HmacAuth.model_validate(
        {"type": "hmac", "key_id": "hy-1", "secret": "a", "next_secret": "b"}
    )
    value = hmac_signature(auth, b'{"x":1}', 1462845600)
    sig_a = hmac.new(b"a", b'1462845600.{"x":1}', hashlib.sha256).hexdigest()
    sig_b = hmac.new(b"b", b'1462845600.{"x":1}', hashlib.sha256).hexdigest()
    assert value == f"keyId=hy-1,t=1462845600,sha256={sig_a},sha256={sig_b}"


def test_parse_retry_after_forms() -> None:
    now = datetime(2016, 3, 1, 1, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Tue, 01 Mar 2016 01:02:00 GMT", now) == 120.0
    assert parse_retry_after("Mon, 29 Feb 2016 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_lookup_follows_dotted_paths() -> None:
    doc = {"data": {"id": 8841, "items": [{"url": "u"}], "flag": True, "empty": ""}}
    assert lookup(doc, "data.id") == "8841"
    assert lookup(doc, "data.items.0.url") == "u"
    assert lookup(doc, "data.items.1.url") is None
    assert lookup(doc, "data.flag") is None
    assert lookup(doc, "data.empty") is None
    assert lookup(doc, "data") is None
    assert lookup(None, "id") is None


def test_server_message_drops_markup_and_is_short() -> None:
    assert server_message(b"<html><h1>Bad\r\nRequest</h1></html>") == "Bad Request"
    assert server_message(b"") == "(empty body)"
    assert len(server_message(b"x" * 1000)) == 301


@pytest.mark.parametrize(
    "options",
    [
        {"url": "ftp://example.org/"},
        {"url": "https://user:pw@example.org/"},
        {"url": "https://example.org/", "method": "GET"},
        {"url": "https://example.org/", "format": "xml"},
        {"url": "https://example.org/", "headers": {"Idempotency-Key": "x"}},
        {"url": "https://example.org/", "headers": {"X-A": "a\r\nX-B: b"}},
        {"url": "https://example.org/", "headers": {"Bad Name": "x"}},
        {"url": "https://example.org/", "ca_file": "missing.pem"},
        {"url": "https://example.org/", "verify": False, "ca_file": "ca.pem"},
        {"url": "https://example.org/", "auth": {"type": "oauth"}},
        {"url": "https://example.org/", "auth": {"type": "bearer"}},
        {"url": "https://example.org/", "auth": {"type": "bearer", "token": ""}},
        {"url": "https://example.org/", "auth": {"type": "hmac", "key_id": "k", "secret": ""}},
        {"url": "https://example.org/", "template": "{{ notice.__class__ }}"},
        {"url": "https://example.org/", "timeouts": {"read": "soon"}},
        {"url": "https://example.org/", "unknown": 1},
    ],
)
def test_options_refuse_mistakes(options: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not used")
    with pytest.raises(ValueError, match=r"."):
        CmsHttpOptions.model_validate(options, context={"base_dir": tmp_path})


def test_an_empty_next_secret_means_no_rotation() -> None:
    auth = {"type": "hmac", "key_id": "k", "secret": "s", "next_secret": ""}
    options = CmsHttpOptions.model_validate({"url": "https://example.org/", "auth": auth})
    assert isinstance(options.auth, HmacAuth)
    assert options.auth.next_secret is None


def test_relative_ca_file_resolves_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    options = CmsHttpOptions.model_validate(
        {"url": "https://example.org/", "ca_file": "ca.pem", "timeouts": {"read": "2m"}},
        context={"base_dir": tmp_path},
    )
    assert options.ca_file == tmp_path / "ca.pem"
    assert options.timeouts.read == 120.0


def test_secrets_stay_out_of_repr_and_preview(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    a = adapter(auth={"type": "bearer", "token_file": str(tmp_path / "token")})
    assert "tok-from-file" not in repr(a.options)
    assert "tok-from-file" not in a.render(notice(), CTX).preview()
    assert a.describe() == "POST https://www.heyuan.gov.cn/api/notices"


@pytest.mark.parametrize("path", NOTICE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("html", [None, '<p title="河源">"引号" \\ \u2028 \x7f</p>'])
def test_default_body_is_the_default_document_as_compact_json(path: Path, html: str | None) -> None:
    # The body is serialised by pydantic in one pass; it must be byte for byte what
    # json.dumps makes of default_document, which the benchmark and receivers rely on.
    n = Notice.parse(path.read_text(encoding="utf-8"))
    expected = json.dumps(default_document(n, html), ensure_ascii=False, separators=(",", ":"))
    assert default_body(n, html) == expected.encode("utf-8")


# --- update, retract and lookup requests -------------------------------------------

IN_PLACE = {
    "url": "https://cms.example/api/posts",
    "update": {
        "method": "PUT",
        "url": "https://cms.example/api/posts/{{ previous.remote_id }}",
        "template": '{"title": {{ notice.title | tojson }}, "was": {{ previous.version }}}',
    },
    "retract": {
        "method": "DELETE",
        "url": "https://cms.example/api/posts/{{ previous.remote_id }}",
    },
    "lookup": {"url": "https://cms.example/api/posts?key={{ key | urlencode }}"},
}


def earlier(state: str = "delivered", remote_id: str | None = "812") -> EarlierDelivery:
    return EarlierDelivery(1, DeliveryState(state), remote_id, "https://cms.example/p/812")


def in_place_adapter(**changes: Any) -> CmsHttpAdapter:
    return CmsHttpAdapter("portal", CmsHttpOptions.model_validate(IN_PLACE | changes))


def test_a_first_version_is_created_with_the_channels_own_request() -> None:
    payload = in_place_adapter().render(notice(version=1, nature="original"), CTX)
    assert payload.target == "https://cms.example/api/posts"
    assert payload.data["method"] == "POST"
    assert payload.data["action"] == "create"


def test_a_later_version_updates_the_earlier_versions_post() -> None:
    ctx = DeliveryContext("portal", "HY-CG-2016-007.v2.portal", previous=earlier())
    payload = in_place_adapter().render(notice(), ctx)
    assert (payload.data["method"], payload.target) == ("PUT", "https://cms.example/api/posts/812")
    assert json.loads(payload.parts["body"]) == {
        "title": "河源市第一中学教学设备采购项目更正公告",
        "was": 1,
    }
    assert payload.headers["Idempotency-Key"] == "HY-CG-2016-007.v2.portal"


def test_a_termination_retracts_and_sends_no_body_unless_templated() -> None:
    ctx = DeliveryContext("portal", "HY-CG-2016-007.v2.portal", previous=earlier())
    payload = in_place_adapter().render(notice(nature="termination"), ctx)
    assert (payload.data["method"], payload.target) == (
        "DELETE",
        "https://cms.example/api/posts/812",
    )
    assert payload.parts["body"] == b""
    assert "Content-Type" not in payload.headers


def test_a_version_waits_for_the_earlier_one_and_refuses_one_without_an_id() -> None:
    waiting = DeliveryContext("portal", "k", previous=earlier(state="pending"))
    with pytest.raises(
        TransientDeliveryError, match="version 1 of HY-CG-2016-007 is not delivered"
    ):
        in_place_adapter().render(notice(), waiting)
    no_id = DeliveryContext("portal", "k", previous=earlier(remote_id=None))
    with pytest.raises(PermanentDeliveryError, match="without a remote id"):
        in_place_adapter().render(notice(), no_id)


def test_without_update_or_retract_every_version_is_created() -> None:
    ctx = DeliveryContext("portal", "k", previous=earlier(state="pending"))
    payload = CmsHttpAdapter("portal", CmsHttpOptions(url="https://cms.example/api/posts")).render(
        notice(), ctx
    )
    assert payload.data["action"] == "create"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"update": {"url": "https://x/{{ previous.remote_id }}", "verb": "PUT"}}, "verb"),
        ({"retract": {"method": "TRACE", "url": "https://x/"}}, "method"),
        ({"lookup": {"url": "https://x/{{ key"}}, "does not parse"),
        ({"lookup": {"url": "https://x/{{ key.__class__ }}"}}, "private attribute"),
    ],
)
def test_request_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CmsHttpOptions.model_validate({"url": "https://cms.example/api/posts"} | options)


def test_a_url_template_must_give_an_http_url() -> None:
    adapter = in_place_adapter(update={"url": "{{ previous.remote_id }}"})
    ctx = DeliveryContext("portal", "k", previous=earlier())
    with pytest.raises(PermanentDeliveryError, match="not an http"):
        adapter.render(notice(), ctx)
