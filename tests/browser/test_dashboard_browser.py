"""The dashboard in headless Chromium: what an operator does, and that hostile text stays text."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from syndicate import Syndicator
from syndicate.store.base import DeliveryState
from syndicate.web.dashboard import overview
from tests.dashboard_site import DEAD, HOSTILE_ID

pytestmark = pytest.mark.integration


def nav(page: Page, name: str) -> None:
    """Follow a link of the main navigation."""
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()


def test_sign_in_and_see_the_overview_refresh_itself(
    operator: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    violations: list[str] = []
    operator.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    monkeypatch.setattr(overview, "REFRESH_SECONDS", 1)
    operator.goto("/")
    expect(operator.get_by_role("heading", name="渠道总览")).to_be_visible()
    expect(operator.locator("article.card")).to_have_count(3)
    expect(operator.locator("article.card").filter(has_text="city-portal")).to_contain_text("积压")
    expect(operator.locator(".incidents")).to_contain_text("有放弃的投递")
    # htmx replaces the live part without a reload: the page object survives, the request is seen.
    operator.evaluate("window.__same_page = true")
    with operator.expect_response(re.compile(r"/overview/live")) as polled:
        pass
    assert polled.value.ok
    assert operator.evaluate("window.__same_page") is True
    assert violations == []


def test_filter_the_matrix_and_open_a_notice(operator: Page) -> None:
    nav(operator, "公告")
    expect(operator.locator("#matrix tbody tr")).to_have_count(7)
    operator.get_by_label("业务类别").select_option("construction")
    operator.get_by_label("状态").select_option("partly_published")
    operator.get_by_role("button", name="筛选", exact=True).click()
    rows = operator.locator("#matrix tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("已放弃")
    operator.get_by_label("标题或项目编号").fill("挂牌出让")
    operator.get_by_label("业务类别").select_option("")
    operator.get_by_label("状态").select_option("")
    operator.get_by_role("button", name="筛选", exact=True).click()
    expect(rows).to_have_count(1)
    operator.get_by_role("link", name="HYTD-2026-021.v1").click()
    expect(operator.get_by_role("heading", level=1)).to_contain_text("HYTD-2026-021")
    delivery = operator.locator("#d-1-land-market")
    expect(delivery).to_contain_text("已送达")
    delivery.locator("summary").click()
    expect(delivery.locator(".preview-body")).to_contain_text("与记录的摘要一致")


def test_replay_a_dead_delivery_and_see_it_delivered(operator: Page, engine: Syndicator) -> None:
    nav(operator, "失败处理")
    group = operator.locator("#failure-groups tbody tr").filter(has_text="city-portal")
    expect(group).to_contain_text("已放弃")
    group.get_by_role("button").click()
    expect(operator.locator("#replay-count")).to_have_text("将重发 1 个投递。确认？")
    operator.get_by_role("button", name="确认重发").click()
    expect(operator.locator(".flash")).to_have_text("已重发 1 个投递。")
    deadline = time.monotonic() + 20

    def replayed() -> DeliveryState:
        (delivery,) = [
            d
            for d in engine.store.deliveries(notice_id=DEAD, channel="city-portal")
            if d.notice_version == 2
        ]
        return delivery.state

    while replayed() is not DeliveryState.delivered:
        assert time.monotonic() < deadline, "the replayed delivery was not delivered"
        time.sleep(0.05)
    operator.goto(f"/notices/{DEAD}")
    expect(operator.locator("#d-2-city-portal h3")).to_contain_text("已送达")
    expect(operator.locator("#d-2-city-portal .timeline li")).to_have_count(3)


def test_download_the_attempt_log_as_csv(operator: Page, tmp_path: Path) -> None:
    operator.goto("/attempts")
    operator.get_by_label("渠道").select_option("city-portal")
    operator.get_by_role("button", name="筛选", exact=True).click()
    with operator.expect_download() as download:
        operator.get_by_role("link", name="下载 CSV").click()
    saved = tmp_path / "attempts.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(saved.read_text(encoding="utf-8-sig").splitlines()))
    assert rows
    assert {r["channel"] for r in rows} == {"city-portal"}


def test_switch_language(operator: Page) -> None:
    operator.get_by_role("link", name="English").click()
    expect(operator.locator("html")).to_have_attribute("lang", "en")
    expect(operator.get_by_role("heading", name="Channel overview")).to_be_visible()
    nav(operator, "Yearly report")
    expect(operator.get_by_role("heading", level=1)).to_contain_text("Yearly publication report")
    operator.get_by_role("link", name="中文").click()
    expect(operator.get_by_role("heading", level=1)).to_contain_text("年度信息发布统计")


def test_a_hostile_notice_renders_as_text_and_no_script_runs(operator: Page) -> None:
    for path in ["/notices", f"/notices/{HOSTILE_ID}", "/"]:
        operator.goto(path)
        operator.mouse.move(200, 300)
        if path != "/":
            expect(
                operator.get_by_text('<script>window.__pwned="title"</script>').first
            ).to_be_visible()
    details = operator.locator("#d-1-trading-website details")
    operator.goto(f"/notices/{HOSTILE_ID}")
    details.locator("summary").click()
    # The title travels as the publisher wrote it (the sanitiser cleans the body only):
    # here it is shown as text, inside the payload the channel received.
    expect(details.locator("pre.preview").first).to_contain_text("window.__pwned")
    operator.locator("pre.preview").first.hover()
    assert operator.evaluate("typeof window.__pwned") == "undefined"
    assert (
        operator.evaluate(
            "document.querySelectorAll('main script, main img, main svg:not(.chart svg)').length"
        )
        == 0
    )
    assert operator.dialogs == []  # type: ignore[attr-defined]


def test_keyboard_reaches_every_control_of_the_matrix_filters(operator: Page) -> None:
    operator.goto("/notices")
    operator.keyboard.press("Tab")
    expect(operator.locator(":focus")).to_have_text("跳到正文")
    labelled = operator.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select')]
             .filter(e => !(e.labels && e.labels.length)).length"""
    )
    assert labelled == 0
    for _ in range(40):
        operator.keyboard.press("Tab")
        if operator.evaluate("document.activeElement.id") == "f-channel":
            break
    else:
        pytest.fail("the channel filter is not reachable by keyboard")
    width = operator.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366, f"the page scrolls sideways at 1366×768 ({width} px)"
