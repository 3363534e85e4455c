"""The HTTP API over the network: uvicorn on loopback, a real HTTP client, a real CMS peer."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import DeliveryState
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.integration.test_engine import http_config

pytestmark = pytest.mark.integration

API = "api: {max_batch: 3, max_body: 20000}\n"


@pytest.fixture
def engine(sink: HttpSink, write_config: Callable[[str], Path]) -> Iterator[Syndicator]:
    with Syndicator.from_config(write_config(http_config(sink.url) + API)) as s:
        yield s


@pytest.fixture
def api(engine: Syndicator) -> Iterator[ApiServer]:
    with ApiServer(engine) as server:
        yield server


def bearer(engine: Syndicator, *scopes: Scope, name: str = "upstream") -> dict[str, str]:
    return {"Authorization": f"Bearer {engine.tokens.create(name, scopes).secret}"}


def notices_in(engine: Syndicator) -> int:
    return sum(engine.store.counts().values())


# --- auth ---------------------------------------------------------------------------


def test_healthz_answers_without_a_token_and_nothing_else_does(api: ApiServer) -> None:
    assert httpx.get(f"{api.url}/healthz").json() == {"status": "ok"}
    for method, path in [("GET", "/readyz"), ("GET", "/metrics"), ("POST", "/v1/notices")]:
        r = httpx.request(method, f"{api.url}{path}", json={})
        assert r.status_code == 401, path
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_revoked_and_malformed_tokens_are_401_a_missing_scope_403(
    api: ApiServer, engine: Syndicator
) -> None:
    reader = bearer(engine, Scope.read, name="dashboard")
    assert httpx.get(f"{api.url}/readyz", headers=reader).status_code == 200
    forged = reader["Authorization"][:-4] + "AAAA"
    for header in [forged, "Bearer syn_nonsense", "Basic dXNlcjpwYXNz"]:
        r = httpx.get(f"{api.url}/readyz", headers={"Authorization": header})
        assert r.status_code == 401, header
    r = httpx.post(f"{api.url}/v1/notices", headers=reader, json={})
    assert r.status_code == 403
    assert r.json()["detail"] == "the token 'dashboard' lacks the scope 'enqueue'"
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert engine.tokens.revoke("dashboard") == 1
    assert httpx.get(f"{api.url}/readyz", headers=reader).status_code == 401
    admin = bearer(engine, Scope.admin, name="ops")
    assert httpx.get(f"{api.url}/readyz", headers=admin).status_code == 200


def test_only_a_hash_of_the_token_is_stored(engine: Syndicator) -> None:
    issued = engine.tokens.create("upstream", [Scope.enqueue])
    (record,) = engine.tokens.list()
    secret = issued.secret.rsplit("_", 1)[1]
    assert secret not in repr(record)
    assert record.secret_sha256 != secret
    assert len(record.secret_sha256) == 64


# --- enqueue ------------------------------------------------------------------------


def test_enqueue_is_idempotent_and_records_the_token(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    headers = bearer(engine, Scope.enqueue, name="e-tendering")
    url = f"{api.url}/v1/notices"
    first = httpx.post(url, headers=headers, json=make_notice())
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "accepted"
    assert body["channels"] == ["trading-website"]
    assert len(body["digest"]) == 64
    again = httpx.post(url, headers=headers, json=make_notice())
    assert again.status_code == 200
    assert again.json()["status"] == "already accepted"
    assert again.json()["digest"] == body["digest"]
    conflict = httpx.post(url, headers=headers, json=make_notice(title="另一个标题"))
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert "send a new version instead" in conflict.json()["errors"][0]["message"]
    (operation,) = engine.store.operations()
    assert (operation.actor, operation.action, operation.subject) == (
        "e-tendering",
        "enqueue",
        "HYZB-2026-0001.v1",
    )


def _post_together(url: str, headers: dict[str, str], bodies: list[Any]) -> list[httpx.Response]:
    """Every body POSTed at once, each on its own connection."""

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            return list(await asyncio.gather(*(client.post(url, json=b) for b in bodies)))

    return asyncio.run(go())


def test_concurrent_posts_of_one_notice_are_one_201_and_the_rest_200(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    answers = _post_together(
        f"{api.url}/v1/notices", bearer(engine, Scope.enqueue), [make_notice()] * 8
    )
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json()["digest"] for a in answers}) == 1
    assert notices_in(engine) == 1  # one delivery: one notice, one routed channel


def test_concurrent_posts_each_get_their_own_answer_a_conflict_fails_no_other(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    headers = bearer(engine, Scope.enqueue)
    url = f"{api.url}/v1/notices"
    assert httpx.post(url, headers=headers, json=make_notice()).status_code == 201
    bodies = [
        make_notice(title="另一个标题"),  # the accepted id and version, other content
        *(make_notice(id=f"HYZB-2026-01{i:02d}") for i in range(6)),
        make_notice(),  # the same again
        make_notice(id="HYZB-2026-0200", region_code="44"),  # invalid
    ]
    answers = _post_together(url, headers, bodies)
    assert [a.status_code for a in answers] == [409] + [201] * 6 + [200, 422]
    assert notices_in(engine) == 7


def test_a_bad_notice_is_422_naming_every_field_and_changes_nothing(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    headers = bearer(engine, Scope.enqueue)
    r = httpx.post(
        f"{api.url}/v1/notices",
        headers=headers,
        json=make_notice(region_code="44", surprise=1),
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errors["surprise"] == "unknown field"
    assert "six-digit region code" in errors["region_code"]
    assert notices_in(engine) == 0


def test_a_batch_is_all_valid_or_nothing_is_stored(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    headers = bearer(engine, Scope.enqueue)
    url = f"{api.url}/v1/notices"
    bad = [make_notice(id="A-1"), make_notice(id="A-2", title=None)]
    r = httpx.post(url, headers=headers, json=bad)
    assert r.status_code == 422
    assert r.json()["errors"] == [{"field": "[1].title", "message": "Field required"}]
    assert notices_in(engine) == 0
    good = [make_notice(id="A-1"), make_notice(id="A-2")]
    r = httpx.post(url, headers=headers, json=good)
    assert r.status_code == 201
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "accepted"]
    r = httpx.post(url, headers=headers, json=[*good, make_notice(id="A-2", title="改")])
    assert r.status_code == 200
    assert [x["status"] for x in r.json()["results"]] == [
        "already accepted",
        "already accepted",
        "conflict",
    ]
    too_many = [make_notice(id=f"B-{i}") for i in range(4)]
    r = httpx.post(url, headers=headers, json=too_many)
    assert r.status_code == 413
    assert "at most 3 notices" in r.json()["detail"]
    assert notices_in(engine) == 2


def test_malformed_json_is_400_with_its_position(api: ApiServer, engine: Syndicator) -> None:
    headers = {**bearer(engine, Scope.enqueue), "Content-Type": "application/json"}
    r = httpx.post(f"{api.url}/v1/notices", headers=headers, content=b'{\n  "id": ,\n}')
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "the body is not valid JSON: Expecting value at column 9 (line 2)"


def test_a_body_that_is_not_json_is_415(api: ApiServer, engine: Syndicator) -> None:
    headers = {**bearer(engine, Scope.enqueue), "Content-Type": "text/plain"}
    r = httpx.post(f"{api.url}/v1/notices", headers=headers, content=b"{}")
    assert r.status_code == 415
    assert r.json()["title"] == "Unsupported Media Type"


def _raw_exchange(url: str, head: bytes, body: bytes) -> bytes:
    """Send ``head`` and only the start of a body, never its end; read what the server says."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def test_an_oversized_body_is_413_before_it_is_read_whole(
    api: ApiServer, engine: Syndicator
) -> None:
    token = bearer(engine, Scope.enqueue)["Authorization"]
    declared = (
        "POST /v1/notices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {token}\r\nContent-Length: 10000000000\r\n\r\n"
    ).encode()
    # Ten gigabytes announced, a few bytes sent: the answer cannot have waited for the rest.
    answer = _raw_exchange(api.url, declared, b'{"id": "')
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"application/problem+json" in answer
    chunked = (
        "POST /v1/notices HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"[" + b" " * 30000
    answer = _raw_exchange(api.url, chunked, f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert notices_in(engine) == 0


# --- the worker in the same process, metrics, readiness -----------------------------


def test_serve_delivers_in_the_same_process_and_metrics_show_it(
    sink: HttpSink, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    with ApiServer(engine, worker=True) as api:
        headers = bearer(engine, Scope.enqueue, Scope.read)
        r = httpx.get(f"{api.url}/readyz", headers=headers)
        assert r.json() == {"ready": True, "ledger": "ok", "worker": "running"}
        assert httpx.post(f"{api.url}/v1/notices", headers=headers, json=make_notice()).is_success
        deadline = time.monotonic() + 20
        while engine.store.counts().get(("trading-website", DeliveryState.delivered)) != 1:
            assert time.monotonic() < deadline, engine.store.counts()
            time.sleep(0.05)
        text = httpx.get(f"{api.url}/metrics", headers=headers).text
    assert 'syndicate_deliveries{channel="trading-website",state="delivered"} 1.0' in text
    assert 'syndicate_attempts_total{channel="trading-website",outcome="delivered"} 1.0' in text
    assert 'syndicate_delivery_latency_seconds_count{channel="trading-website"} 1.0' in text
    assert "syndicate_worker_up 1.0" in text
    assert len(sink.requests) == 1


def test_readyz_without_a_worker_says_so(api: ApiServer, engine: Syndicator) -> None:
    r = httpx.get(f"{api.url}/readyz", headers=bearer(engine, Scope.read))
    assert r.json() == {"ready": True, "ledger": "ok", "worker": "not in this process"}


def test_the_openapi_document_is_served_and_names_v1(api: ApiServer, engine: Syndicator) -> None:
    reader = bearer(engine, Scope.read)
    schema = httpx.get(f"{api.url}/openapi.json", headers=reader).json()
    assert "/v1/notices" in schema["paths"]
    assert "Notice" in schema["components"]["schemas"]
    assert json.dumps(schema).count("HTTPValidationError") == 0
    page = httpx.get(f"{api.url}/docs", headers=reader)
    assert page.status_code == 200
    # Everything the page loads comes from this server: an intranet has no CDN.
    loaded = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert loaded
    assert [url for url in loaded if not url.startswith("/static/")] == []
    assert '"validatorUrl": null' in page.text
    for url in loaded:
        assert httpx.get(f"{api.url}{url}").status_code == 200
    assert "SwaggerUIBundle" in httpx.get(f"{api.url}/static/swagger-ui-bundle.js").text


def test_the_openapi_document_needs_a_read_token(api: ApiServer, engine: Syndicator) -> None:
    assert httpx.get(f"{api.url}/openapi.json").status_code == 401
    enqueuer = bearer(engine, Scope.enqueue)
    assert httpx.get(f"{api.url}/openapi.json", headers=enqueuer).status_code == 403
    page = httpx.get(f"{api.url}/docs")  # a browser is sent to sign in, and back
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=/docs"
    assert httpx.get(f"{api.url}/docs", headers=enqueuer).status_code == 403


def test_a_deployment_may_open_the_openapi_document(
    sink: HttpSink, write_config: Callable[[str], Path]
) -> None:
    opened = http_config(sink.url) + "api: {open_docs: true}\n"
    with Syndicator.from_config(write_config(opened)) as engine, ApiServer(engine) as api:
        assert "/v1/notices" in httpx.get(f"{api.url}/openapi.json").json()["paths"]
        assert httpx.get(f"{api.url}/docs").status_code == 200
        assert httpx.get(f"{api.url}/v1/notices").status_code == 401


# --- audit ----------------------------------------------------------------------------


def test_the_audit_and_verify_read_models_over_http(
    api: ApiServer, engine: Syndicator, make_notice: Callable[..., dict[str, Any]]
) -> None:
    engine.enqueue(make_notice())
    assert engine.drain(timeout=20)
    reader = bearer(engine, Scope.read, name="auditor")
    r = httpx.get(f"{api.url}/v1/notices/HYZB-2026-0001/audit", headers=reader)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["consistent"] is True
    assert report["version"] == 1
    (channel,) = report["channels"]
    assert channel["channel"] == "trading-website"
    assert channel["state"] == "delivered"
    assert {f["name"]: f["found"] for f in channel["facts"]} == {
        "title": True,
        "project_code": True,
        "construction.max_price": True,
    }
    r = httpx.get(f"{api.url}/v1/notices/NOPE/audit", headers=reader)
    assert r.status_code == 404
    assert r.json()["detail"] == "no notice NOPE in the ledger"
    r = httpx.get(f"{api.url}/v1/ledger/verify", headers=reader)
    assert r.status_code == 200
    assert r.json()["ok"] is True
    # the notice, the two rule warnings it was accepted with, its delivery, the
    # attempt, and the auditor's token
    assert r.json()["head"]["seq"] == 6
