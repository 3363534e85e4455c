"""Fetch-back verification against a real site on loopback that keeps, changes or loses a page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.audit.fetchback import CheckResult
from syndicate.demo.http_sink import HttpSink
from tests.integration.test_alerts import alerting_config, settle, subjects
from tests.integration.test_engine import http_config
from tests.peers.smtp import SmtpPeer

pytestmark = pytest.mark.integration


def test_a_page_verified_then_changed_then_gone_then_unreachable(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        (delivery,) = s.store.deliveries()
        assert delivery.remote_url is not None
        page = delivery.remote_url.rsplit("/", 1)[1]

        (check,) = s.fetch_back()
        assert check.result is CheckResult.verified, check.detail
        assert check.url == delivery.remote_url

        original = sink.published()[page]
        sink.alter(page, original.replace(b"3850000.00", b"3950000.00"))
        (check,) = s.fetch_back(notice_id="HYZB-2026-0001")
        assert check.result is CheckResult.mismatch
        assert check.result.alert
        assert "最高投标限价 (construction.max_price) '3850000.00 元'" in check.detail

        sink.alter(page, None)
        (check,) = s.fetch_back(channel="trading-website")
        assert check.result is CheckResult.missing
        assert check.result.alert

        sink.stop()
        (check,) = s.fetch_back()
        assert check.result is CheckResult.unreachable
        assert not check.result.alert
        assert "trading-website" in check.detail or "127.0.0.1" in check.detail

        # Every check is in the ledger's chain, and the chain still verifies.
        links = s.store.chain_links_of("check", 0, 100)
        assert [link.content()["check"]["result"] for link in links] == [
            "verified",
            "mismatch",
            "missing",
            "unreachable",
        ]
        assert s.verify().ok


def test_a_scheduled_run_checks_only_what_is_due(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        assert s.fetch_back(due=True) == []  # no fetch_back interval on the channel: never due
    path = write_config(http_config(sink.url, extra="    fetch_back: 1h"))
    with Syndicator.from_config(path) as s:
        (check,) = s.fetch_back(due=True)
        assert check.result is CheckResult.verified
        assert s.fetch_back(due=True) == []  # read back a moment ago: not due for an hour
        assert len(s.fetch_back()) == 1  # asked for by hand: checked all the same


def test_a_check_older_than_the_interval_leaves_the_delivery_due_again(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    # Only the checks of the last interval are read: one from before it must count as none.
    path = write_config(http_config(sink.url, extra="    fetch_back: 1s"))
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        (first,) = s.fetch_back(due=True)
        assert s.fetch_back(due=True) == []
        time.sleep(1.2)
        (again,) = s.fetch_back(due=True)
        assert again.delivery_id == first.delivery_id
        assert again.at - first.at >= 1.0


def test_a_changed_or_vanished_page_is_one_alert_each(
    sink: HttpSink,
    smtp_server: SmtpPeer,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    with Syndicator.from_config(write_config(alerting_config(sink.url, smtp_server.port))) as s:
        s.enqueue(make_notice())
        settle(s)
        (delivery,) = [d for d in s.store.deliveries() if d.channel == "trading-website"]
        assert delivery.remote_url is not None
        page = delivery.remote_url.rsplit("/", 1)[1]
        assert s.fetch_back(channel="trading-website")[0].result is CheckResult.verified
        settle(s)
        assert subjects(smtp_server) == []

        original = sink.published()[page]
        sink.alter(page, original.replace(b"3850000.00", b"3950000.00"))
        for _ in range(2):  # the same finding checked again is the same incident
            assert s.fetch_back(channel="trading-website")[0].result is CheckResult.mismatch
            settle(s)
        sink.alter(page, None)
        assert s.fetch_back(channel="trading-website")[0].result is CheckResult.missing
        settle(s)

    told = subjects(smtp_server)
    assert len(told) == 2, told
    assert "fetch-back: mismatch" in told[0]
    assert "fetch-back: missing" in told[1]
    assert all("trading-website" in t for t in told)
    body = str(smtp_server.received[0].message.get_body(("plain", "html")).get_content())
    assert "最高投标限价" in body


def test_a_withdrawn_notice_is_not_read_back_where_it_was_taken_down(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    from tests.integration.test_lifecycle import led_config

    with Syndicator.from_config(write_config(led_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        checked = {c.channel: c.result for c in s.fetch_back()}
        assert checked == {
            "trading-website": CheckResult.verified,
            "city-portal": CheckResult.verified,
            "led-screens": CheckResult.verified,
        }
        s.withdraw("HYZB-2026-0001", "招标人终止招标", by="值班员")
        assert s.drain(timeout=20)
        # Taken down on purpose on the website and the screens: nothing there to miss. The
        # portal (no retraction configured) still shows it, and is still checked.
        assert [c.channel for c in s.fetch_back()] == ["city-portal"]
