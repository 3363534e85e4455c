"""The read and operate endpoints over the network: they render the engine's read models."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.tokens import Scope
from tests.api_server import ApiServer

pytestmark = pytest.mark.integration


def config(url: str) -> str:
    return f"""
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 2, initial_delay: 10ms, max_delay: 20ms, jitter: 0s}}
channels:
  trading-website: {{adapter: cms_http, url: "{url}/site"}}
  city-portal: {{adapter: cms_http, url: "{url}/portal"}}
routes:
  - channels: [trading-website, city-portal]
"""


@pytest.fixture
def ledger(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> Iterator[Syndicator]:
    """Three notices delivered to the website; the portal refused the second one for good."""
    sink.script("/portal", [Reply(200), Reply(422)])
    with Syndicator.from_config(write_config(config(sink.url))) as s:
        for i, category in enumerate(["construction", "procurement", "construction"]):
            extra = {"procurement": {"method": "open_tender"}} if category == "procurement" else {}
            s.enqueue(
                make_notice(
                    id=f"HY-{i}",
                    title=f"河源市第{i}号公告",
                    project_code=f"PC-{i}",
                    category=category,
                    construction=None if category == "procurement" else {},
                    **extra,
                )
            )
            assert s.drain(timeout=20)
        yield s


@pytest.fixture
def api(ledger: Syndicator) -> Iterator[ApiServer]:
    with ApiServer(ledger) as server:
        yield server


def client(api: ApiServer, engine: Syndicator, *scopes: Scope) -> httpx.Client:
    token = engine.tokens.create(f"t{len(engine.tokens.list())}", scopes).secret
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"})


def test_notices_newest_first_filtered_and_in_pages(api: ApiServer, ledger: Syndicator) -> None:
    with client(api, ledger, Scope.read) as http:
        page = http.get("/v1/notices", params={"limit": 2}).json()
        assert [n["id"] for n in page["items"]] == ["HY-2", "HY-1"]
        rest = http.get("/v1/notices", params={"limit": 2, "cursor": page["next_cursor"]}).json()
        assert [n["id"] for n in rest["items"]] == ["HY-0"]
        assert rest["next_cursor"] is None
        only = http.get("/v1/notices", params={"category": "procurement"}).json()["items"]
        assert [n["id"] for n in only] == ["HY-1"]
        assert only[0]["state"] == "partly_published"
        found = http.get("/v1/notices", params={"text": "PC-2"}).json()["items"]
        assert [n["id"] for n in found] == ["HY-2"]
        bad = http.get("/v1/notices", params={"cursor": "bm9wZQ"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "cursor"
        wrong = http.get("/v1/notices", params={"category": "lottery"})
        assert wrong.status_code == 422
        assert wrong.json()["errors"][0]["field"] == "category"


def test_a_notice_with_every_version_delivery_and_attempt(
    api: ApiServer, ledger: Syndicator
) -> None:
    with client(api, ledger, Scope.read) as http:
        detail = http.get("/v1/notices/HY-1").json()
        (version,) = detail["versions"]
        by_channel = {d["channel"]: d for d in version["deliveries"]}
        assert by_channel["trading-website"]["state"] == "delivered"
        assert by_channel["city-portal"]["state"] == "failed"
        (attempt,) = by_channel["city-portal"]["attempt_log"]
        assert attempt["status"] == "422"
        assert len(attempt["payload_sha256"]) == 64
        missing = http.get("/v1/notices/NOPE")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_deliveries_and_attempts_filtered(api: ApiServer, ledger: Syndicator) -> None:
    with client(api, ledger, Scope.read) as http:
        failed = http.get("/v1/deliveries", params={"state": "failed"}).json()["items"]
        assert [(d["notice"], d["channel"]) for d in failed] == [("HY-1", "city-portal")]
        mine = http.get("/v1/deliveries", params={"notice": "HY-1.v1"}).json()["items"]
        assert {d["channel"] for d in mine} == {"trading-website", "city-portal"}
        refused = http.get(
            "/v1/attempts", params={"outcome": "permanent", "channel": "city-portal"}
        ).json()["items"]
        assert [a["notice"] for a in refused] == ["HY-1"]
        every = http.get("/v1/attempts", params={"limit": 4}).json()
        assert len(every["items"]) == 4
        assert every["items"][0]["attempt"] > every["items"][-1]["attempt"]
        kind = base64.urlsafe_b64decode(every["next_cursor"] + "==").decode().split(":")[0]
        assert kind == "attempts"
        later = http.get("/v1/attempts", params={"since": "2999-01-01T00:00:00Z"}).json()
        assert later["items"] == []


def test_channels_report_and_preview(api: ApiServer, ledger: Syndicator) -> None:
    with client(api, ledger, Scope.read) as http:
        channels = {c["name"]: c for c in http.get("/v1/channels").json()["channels"]}
        assert channels["city-portal"]["deliveries"]["failed"] == 1
        assert channels["city-portal"]["last_error"]["status"] == "422"
        assert channels["trading-website"]["backlog"] == 0
        report = http.get("/v1/report", params={"year": 2026}).json()
        assert report["notices"]["construction"] == 2
        assert report["delivered"]["construction"]["trading-website"] == 2
        shown = http.get("/v1/notices/HY-0/preview", params={"channel": "city-portal"}).json()
        assert shown["idempotency_key"] == "HY-0.v1.city-portal"
        assert "河源市第0号公告" in shown["parts"][0]["text"]
        unknown = http.get("/v1/notices/HY-0/preview", params={"channel": "nowhere"})
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["field"] == "channel"


def test_replay_counts_first_then_replays_and_records_who(
    api: ApiServer, ledger: Syndicator
) -> None:
    with client(api, ledger, Scope.read) as reader:
        assert reader.post("/v1/replays", json={"all": True}).status_code == 403
    with client(api, ledger, Scope.operate) as ops:
        vague = ops.post("/v1/replays", json={})
        assert vague.status_code == 422
        assert "say what to replay" in vague.json()["errors"][0]["message"]
        dry = ops.post("/v1/replays", json={"channel": "city-portal", "dry_run": True}).json()
        assert dry == {"dry_run": True, "count": 1}
        assert ledger.store.deliveries(state=None)[-1]  # nothing moved yet
        done = ops.post("/v1/replays", json={"channel": "city-portal"}).json()
        assert done == {"dry_run": False, "count": 1}
        again = ops.post("/v1/replays", json={"channel": "city-portal"}).json()
        assert again["count"] == 0
    (operation,) = ledger.store.operations()
    assert operation.action == "replay"
    assert '"channel": "city-portal"' in operation.subject


def test_pause_and_resume_a_channel(api: ApiServer, ledger: Syndicator) -> None:
    with client(api, ledger, Scope.operate, Scope.read) as ops:
        r = ops.post("/v1/channels/city-portal/pause")
        assert r.json() == {"channel": "city-portal", "paused": True, "changed": True}
        channels = {c["name"]: c for c in ops.get("/v1/channels").json()["channels"]}
        assert channels["city-portal"]["paused"] is True
        assert channels["city-portal"]["paused_by"] == "t0"
        assert ops.post("/v1/channels/city-portal/resume").json()["changed"] is True
        assert ops.post("/v1/channels/nowhere/pause").status_code == 422
    assert [o.action for o in ledger.store.operations()] == ["resume", "pause"]
