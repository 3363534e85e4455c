"""A notice's life on real peers: corrections follow the original, withdrawals, expiry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.errors import NoticeError
from syndicate.notice import LOCAL_TZ
from syndicate.store.base import DeliveryState, Purpose
from syndicate.tokens import Scope
from tests.api_server import ApiServer

CMS = """
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 3, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {url}/api/notices
    allow_insecure_transport: true
    update: {{method: PUT, url: "{url}/api/notices/{{{{ previous.remote_id }}}}"}}
    retract: {{method: DELETE, url: "{url}/api/notices/{{{{ previous.remote_id }}}}"}}
{extra}
  city-portal:
    adapter: cms_http
    url: {url}/portal
    allow_insecure_transport: true
routes:
  - match: {{category: [construction]}}
    channels: [trading-website, city-portal]
"""


def cms_config(url: str, extra: str = "") -> str:
    return CMS.format(url=url, extra=extra)


def by_key(s: Syndicator) -> dict[str, DeliveryState]:
    return {d.idempotency_key: d.state for d in s.store.deliveries()}


def test_a_correction_reaches_every_channel_of_the_original_and_updates_in_place(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(cms_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        (first,) = [r for r in sink.requests if r.path == "/api/notices"]
        posted = json.loads(first.body)
        assert posted["version"] == 1
        original = next(d.remote_id for d in s.store.deliveries() if d.channel == "trading-website")
        # The correction names one channel only; it still goes where the original went.
        correction = make_notice(
            version=2, nature="correction", title="更正公告", channels=["trading-website"]
        )
        preview = s.preview("HYZB-2026-0001.v1", "trading-website")
        assert preview.target == f"{sink.url}/api/notices"
        accepted = s.enqueue(correction)
        assert accepted.channels == ["trading-website", "city-portal"]
        shown = s.preview("HYZB-2026-0001.v2", "trading-website")
        assert shown.target == f"{sink.url}/api/notices/{original}"
        assert s.drain(timeout=20)
        assert by_key(s)["HYZB-2026-0001.v2.city-portal"] is DeliveryState.delivered
    put = [r for r in sink.requests if r.method == "PUT"]
    assert [r.path for r in put] == [f"/api/notices/{original}"]
    assert json.loads(put[0].body)["title"] == "更正公告"
    assert [r.method for r in sink.requests if r.path == "/portal"] == ["POST", "POST"]
    assert sink.duplicates == 0


def test_a_pending_original_is_superseded_and_never_sent(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(cms_config(sink.url))) as s:
        s.enqueue(make_notice())
        s.enqueue(make_notice(version=2, nature="correction", title="更正公告"))
        assert s.drain(timeout=20)
        states = {(d.notice_version, d.channel, d.purpose): d.state for d in s.store.deliveries()}
        detail = s.notice_detail("HYZB-2026-0001")
        matrix = s.status_matrix()
    assert states == {
        (1, "trading-website", Purpose.publish): DeliveryState.superseded,
        (1, "city-portal", Purpose.publish): DeliveryState.superseded,
        (2, "trading-website", Purpose.publish): DeliveryState.delivered,
        (2, "city-portal", Purpose.publish): DeliveryState.delivered,
    }
    # v2 went out as a creation: nothing of v1 was on the site to update.
    assert [r.method for r in sink.requests] == ["POST", "POST"]
    assert all(json.loads(r.body)["version"] == 2 for r in sink.requests)
    assert detail is not None
    assert [v.state.value for v in detail.versions] == ["superseded", "published"]
    assert matrix.counts["city-portal"][DeliveryState.superseded] == 1


LED = """
  led-screens:
    adapter: led_feed
    screens: [{name: hall, columns: 64, lines: 4, path: {rss: led/hall.xml}, link: "https://ggzy.example/"}]
"""


def led_config(url: str) -> str:
    return cms_config(url, LED).replace(
        "channels: [trading-website, city-portal]",
        "channels: [trading-website, city-portal, led-screens]",
    )


def feed_items(path: Path) -> list[str]:
    items = json.loads((path.parent / "led" / "hall.xml.items.json").read_text("utf-8"))
    return [i["id"] for i in items["items"]]


def test_a_withdrawal_takes_the_notice_down_where_it_is_and_cancels_the_rest(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = write_config(led_config(sink.url))
    with Syndicator.from_config(path) as s:
        s.pause("city-portal")
        s.enqueue(make_notice())
        s.run(once=True)  # city-portal is paused: its delivery waits
        assert feed_items(path) == ["HYZB-2026-0001.v1.led-screens"]
        on_site = next(d.remote_id for d in s.store.deliveries() if d.channel == "trading-website")
        done = s.withdraw("HYZB-2026-0001", "招标人终止招标", by="值班员")
        # city-portal's publication, and the screens' expiry (valid_until is years away)
        assert (done.cancelled, done.channels) == (2, ["trading-website", "led-screens"])
        assert s.drain(timeout=20)
        states = by_key(s)
        detail = s.notice_detail("HYZB-2026-0001")
        with pytest.raises(NoticeError, match="withdrawn already"):
            s.withdraw("HYZB-2026-0001", "again")
        with pytest.raises(NoticeError, match="was withdrawn"):
            s.enqueue(make_notice(version=2, nature="correction"))
        assert s.verify().ok
        withdrawn_this_year = s.disclosure(datetime.now(LOCAL_TZ).year).withdrawals
        disclosure = s.disclosure(2026)  # the year the notice was published
    assert withdrawn_this_year == 1
    # Neither the withdrawals nor the cancelled delivery count as publications.
    assert {m.channel: m.delivered for m in disclosure.media if m.channel != "city-portal"} == {
        "trading-website": 1,
        "led-screens": 1,
    }
    assert states == {
        "HYZB-2026-0001.v1.trading-website": DeliveryState.delivered,
        "HYZB-2026-0001.v1.city-portal": DeliveryState.cancelled,
        "HYZB-2026-0001.v1.led-screens": DeliveryState.delivered,
        "HYZB-2026-0001.v1.led-screens.expiry": DeliveryState.cancelled,
        "HYZB-2026-0001.v1.trading-website.withdrawal": DeliveryState.delivered,
        "HYZB-2026-0001.v1.led-screens.withdrawal": DeliveryState.delivered,
    }
    deleted = [r for r in sink.requests if r.method == "DELETE"]
    assert [r.path for r in deleted] == [f"/api/notices/{on_site}"]
    assert deleted[0].headers["idempotency-key"] == "HYZB-2026-0001.v1.trading-website.withdrawal"
    assert not [r for r in sink.requests if r.path == "/portal"]
    assert feed_items(path) == []
    assert detail is not None
    assert detail.withdrawal is not None
    assert detail.withdrawal.by == "值班员"
    assert [v.state.value for v in detail.versions] == ["withdrawn"]


def test_the_screens_drop_an_expired_notice_without_a_command(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = write_config(led_config(sink.url))
    soon = datetime.now(UTC) + timedelta(seconds=2)
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice(valid_until=soon.isoformat()))
        expiry = {d.channel: d for d in s.store.deliveries() if d.purpose is Purpose.expiry}
        assert list(expiry) == ["led-screens"]  # the CMSs keep the page
        assert expiry["led-screens"].next_attempt_at == soon.timestamp()
        while datetime.now(UTC) < soon:
            time.sleep(0.1)
        assert s.drain(timeout=20)
        assert by_key(s)["HYZB-2026-0001.v1.led-screens.expiry"] is DeliveryState.delivered
        report = s.year_report(2026)
    assert feed_items(path) == []
    # An expiry is not a publication: the year's figures count the notice once per channel.
    assert sum(by.get("led-screens", 0) for by in report.delivered.values()) == 1


def test_the_api_withdraws_with_the_operate_scope_and_records_the_token(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(cms_config(sink.url))) as s, ApiServer(s) as api:
        s.enqueue(make_notice())
        url = f"{api.url}/v1/notices/HYZB-2026-0001/withdrawal"
        reader = {"Authorization": f"Bearer {s.tokens.create('dash', [Scope.read]).secret}"}
        duty = {"Authorization": f"Bearer {s.tokens.create('duty', [Scope.operate]).secret}"}
        assert httpx.post(url, headers=reader, json={"reason": "x"}).status_code == 403
        empty = httpx.post(url, headers=duty, json={"reason": ""})
        assert empty.status_code == 422
        unknown = httpx.post(
            f"{api.url}/v1/notices/NOPE/withdrawal", headers=duty, json={"reason": "x"}
        )
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert s.store.withdrawal("HYZB-2026-0001") is None
        done = httpx.post(url, headers=duty, json={"reason": "项目终止"})
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["by"], body["reason"], body["cancelled"]) == ("duty", "项目终止", 2)
        again = httpx.post(url, headers=duty, json={"reason": "又一次"})
        assert again.status_code == 409
        assert "withdrawn already" in again.json()["detail"]
        withdrawal = s.store.withdrawal("HYZB-2026-0001")
        operations = [(o.actor, o.action, o.subject) for o in s.store.operations()]
    assert withdrawal is not None
    assert (withdrawal.reason, withdrawal.by) == ("项目终止", "duty")
    assert operations == [("duty", "withdraw", "HYZB-2026-0001")]
