"""The dashboard over HTTP: uvicorn on loopback and a real client, as a browser without scripts."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import DeliveryState
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.dashboard_site import DEAD, HOSTILE_ID, csrf_of, seed, sign_in, token

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(sink: HttpSink, tmp_path: Path) -> Iterator[Syndicator]:
    with seed(sink, tmp_path) as s:
        yield s


@pytest.fixture
def site(engine: Syndicator) -> Iterator[ApiServer]:
    with ApiServer(engine, worker=True) as server:
        yield server


@pytest.fixture
def client(site: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False) as c:
        yield c


@pytest.fixture
def operator(client: httpx.Client, engine: Syndicator) -> httpx.Client:
    assert sign_in(client, token(engine, Scope.read, Scope.operate)).status_code == 303
    return client


PAGES = [
    "/",
    "/overview/live",
    "/notices",
    f"/notices/{DEAD}",
    "/attempts",
    "/failures",
    "/report",
]


@pytest.mark.parametrize("path", [*PAGES, "/attempts.csv", "/report.csv"])
def test_every_page_sends_a_browser_without_a_session_to_sign_in(
    client: httpx.Client, path: str
) -> None:
    r = client.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/")


def test_a_polling_fragment_without_a_session_redirects_the_whole_page(
    client: httpx.Client,
) -> None:
    r = client.get("/overview/live", headers={"HX-Request": "true"})
    assert r.headers["hx-redirect"].startswith("/login")


def test_signing_in_sets_a_signed_httponly_samesite_cookie_not_the_token(
    client: httpx.Client, engine: Syndicator
) -> None:
    secret = token(engine, Scope.read)
    r = sign_in(client, secret)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("syndicate_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert secret not in cookie
    assert secret.split("_")[2] not in cookie
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_a_wrong_revoked_or_enqueue_only_token_does_not_sign_in(
    client: httpx.Client, engine: Syndicator
) -> None:
    assert sign_in(client, "syn_000000000000_" + "A" * 43).status_code == 401
    assert sign_in(client, token(engine, Scope.enqueue, name="upstream")).status_code == 403
    secret = token(engine, Scope.read, name="auditor")
    assert sign_in(client, secret).status_code == 303
    assert client.get("/").status_code == 200
    engine.tokens.revoke("auditor")
    assert client.get("/").status_code == 303  # revoking the token ends its sessions


def test_a_tampered_session_cookie_is_refused(client: httpx.Client, engine: Syndicator) -> None:
    sign_in(client, token(engine, Scope.read))
    value = client.cookies["syndicate_session"]
    body, mac = value.split(".")
    client.cookies.set("syndicate_session", f"{body}.{'0' * len(mac)}")
    assert client.get("/").status_code == 303


def test_sign_in_needs_its_csrf_token(client: httpx.Client, engine: Syndicator) -> None:
    client.get("/login")
    r = client.post("/login", data={"token": token(engine, Scope.read), "csrf": "forged"})
    assert r.status_code == 403
    assert "syndicate_session" not in r.headers.get("set-cookie", "")


def test_signing_in_returns_to_the_page_asked_for_with_its_query(
    client: httpx.Client, engine: Syndicator
) -> None:
    asked = "/notices?category=construction&state=published"
    login = client.get(asked).headers["location"]
    page = client.get(login).text
    assert 'name="next" value="/notices?category=construction&amp;state=published"' in page
    data = {"token": token(engine, Scope.read), "csrf": csrf_of(page), "next": asked}
    assert client.post("/login", data=data).headers["location"] == asked


def test_next_never_leaves_the_site(client: httpx.Client, engine: Syndicator) -> None:
    form = client.get("/login")
    secret = token(engine, Scope.read)
    data = {"token": secret, "csrf": csrf_of(form.text), "next": "//evil.example/x"}
    assert client.post("/login", data=data).headers["location"] == "/"


def test_pages_carry_a_csp_without_inline_scripts(operator: httpx.Client) -> None:
    for path in [*PAGES, "/login"]:
        r = operator.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in r.text, path  # scripts only by src, from /static
        assert " onclick=" not in r.text, path
    assert "htmx.org" in operator.get("/static/htmx.min.js").text[:200]


def test_a_hostile_notice_is_shown_as_text(operator: httpx.Client) -> None:
    for path in ["/notices", f"/notices/{HOSTILE_ID}", "/attempts"]:
        page = operator.get(path).text
        assert "window.__pwned" not in page or "&lt;script&gt;window.__pwned" in page, path
        assert "<img src=x" not in page, path
        assert "<script>window" not in page, path
    detail = operator.get(f"/notices/{HOSTILE_ID}").text
    assert "&lt;script&gt;window.__pwned=&#34;title&#34;&lt;/script&gt;" in detail


def test_chinese_by_default_english_by_query_or_accept_language(
    operator: httpx.Client,
) -> None:
    assert '<html lang="zh-CN">' in operator.get("/").text
    assert "渠道总览" in operator.get("/").text
    r = operator.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in r.text
    assert "Channel overview" in r.text
    r = operator.get("/?lang=en")
    assert "Channel overview" in r.text
    assert "Notices by channel" in operator.get("/notices").text  # the choice is remembered
    assert "公告发布矩阵" in operator.get("/notices?lang=zh").text


def test_overview_shows_each_channel_today_and_the_dead_delivery(
    operator: httpx.Client,
) -> None:
    page = operator.get("/").text
    for name in ("trading-website", "city-portal", "land-market", "中国土地市场网"):
        assert name in page
    assert 'hx-trigger="every 10s"' in page
    assert 'id="today-notices">7<' in page
    assert "有放弃的投递" in page  # the incident of the dead delivery


def test_the_matrix_filters_searches_and_pages_by_cursor(operator: httpx.Client) -> None:
    page = operator.get("/notices?category=land_mineral").text
    assert "HYTD-2026-021.v1" in page
    assert "HYCG-2026-0152" not in page
    page = operator.get("/notices", params={"q": "ZFCG2026"}).text
    assert "HYCG-2026-0152-JG" in page
    assert "HYTD-2026-021" not in page
    page = operator.get("/notices?state=partly_published").text
    assert f"{DEAD}.v2" in page
    assert "s-dead" in page
    assert "已放弃" in page
    page = operator.get("/notices", params={"q": "挂牌出让"}).text  # in the title
    assert "HYTD-2026-021.v1" in page
    assert "HYCG" not in page
    r = operator.get("/notices?since=yesterday")
    assert r.status_code == 400
    assert "since" in r.text


def test_matrix_pages_continue_with_older_notices(
    operator: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syndicate.web.dashboard import notices

    monkeypatch.setattr(notices, "PAGE", 3)
    seen: list[str] = []
    url = "/notices"
    while url:
        page = operator.get(url).text
        seen += [line for line in page.split('<th scope="row">')[1:]]
        nxt = page.split('rel="next" href="')
        url = nxt[1].split('"')[0].replace("&amp;", "&") if len(nxt) > 1 else ""
        url = f"/notices{url}" if url.startswith("?") else url
    assert len(seen) == 7  # every notice version once, three at a time


def test_notice_detail_shows_versions_receipts_digests_and_the_timeline(
    operator: httpx.Client, engine: Syndicator
) -> None:
    page = operator.get(f"/notices/{DEAD}").text
    assert 'id="v1"' in page
    assert 'id="v2"' in page
    assert "s-dead" in page
    assert "TransientDeliveryError" in page
    delivered = [a for a in engine.attempt_log().items if a.notice_id == DEAD and a.remote_url]
    assert delivered
    assert delivered[0].remote_url in page
    assert delivered[0].payload_sha256 in page
    preview = operator.get(
        f"/notices/{DEAD}/preview",
        params={"version": 2, "channel": "trading-website"},
        headers={"HX-Request": "true"},
    ).text
    assert "<html" not in preview  # a fragment for the disclosure
    assert "与记录的摘要一致" in preview
    sent = next(
        a
        for a in engine.attempt_log().items
        if a.notice_id == DEAD and a.version == 2 and a.channel == "trading-website"
    )
    assert sent.payload_sha256 in preview
    assert operator.get("/notices/NO-SUCH-NOTICE").status_code == 404


def test_attempt_log_filters_and_downloads_csv(operator: httpx.Client) -> None:
    page = operator.get("/attempts?outcome=transient").text
    assert page.count("暂时失败") >= 2
    assert "s-delivered" not in page
    r = operator.get("/attempts.csv?channel=city-portal")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows
    assert {row["channel"] for row in rows} == {"city-portal"}
    assert sum(row["outcome"] == "transient" for row in rows) == 2


def test_replay_counts_first_then_replays_and_the_worker_delivers(
    operator: httpx.Client, engine: Syndicator
) -> None:
    page = operator.get("/failures").text
    assert "city-portal" in page
    assert "TransientDeliveryError" in page
    form = {"csrf": csrf_of(page), "channel": "city-portal", "state": "dead"}
    asked = operator.post("/failures/replay", data=form)
    assert asked.status_code == 200
    assert "将重发 1 个投递" in asked.text
    assert engine.store.counts()[("city-portal", DeliveryState.dead)] == 1  # nothing changed yet
    done = operator.post("/failures/replay", data={**form, "confirm": "yes"})
    assert done.headers["location"] == "/failures?replayed=1"
    deadline = time.monotonic() + 20
    while engine.store.counts().get(("city-portal", DeliveryState.dead)):
        assert time.monotonic() < deadline, "the replayed delivery was not attempted"
        time.sleep(0.05)
    assert engine.drain(timeout=20)
    assert ("city-portal", DeliveryState.delivered) in engine.store.counts()
    assert [op.action for op in engine.store.operations()] == ["replay"]


def test_forms_without_csrf_or_operate_scope_change_nothing(
    client: httpx.Client, engine: Syndicator
) -> None:
    sign_in(client, token(engine, Scope.read, name="auditor"))
    page = client.get("/failures").text
    form = {"csrf": csrf_of(page), "channel": "city-portal", "confirm": "yes"}
    assert client.post("/failures/replay", data=form).status_code == 403
    assert (
        client.post("/channels/city-portal/pause", data={"csrf": csrf_of(page)}).status_code == 403
    )
    assert client.post("/failures/replay", data={**form, "csrf": "x"}).status_code == 403
    assert engine.store.counts()[("city-portal", DeliveryState.dead)] == 1
    assert not engine.store.paused()


def test_pause_and_resume_a_channel(operator: httpx.Client, engine: Syndicator) -> None:
    csrf = csrf_of(operator.get("/failures").text)
    r = operator.post("/channels/land-market/pause", data={"csrf": csrf})
    assert r.headers["location"] == "/failures?paused=land-market"
    assert engine.store.paused()["land-market"].paused_by == "operator"
    assert "渠道 land-market 已暂停" in operator.get(r.headers["location"]).text
    operator.post("/channels/land-market/resume", data={"csrf": csrf})
    assert not engine.store.paused()


def test_yearly_report_table_chart_and_csv(operator: httpx.Client) -> None:
    page = operator.get("/report?year=2026").text
    assert "工程建设" in page
    assert "土地矿产" in page
    assert "合计" in page
    assert "<svg" in page
    assert 'class="bar"' in page
    rows = list(
        csv.reader(io.StringIO(operator.get("/report.csv?year=2026").text.lstrip("\ufeff")))
    )
    assert rows[0][:2] == ["业务类别", "公告数"]
    assert rows[-1][0] == "合计"
    assert rows[-1][1] == "7"
    assert operator.get("/report?year=1999").status_code == 400
    empty = operator.get("/report.csv?year=2025").text
    assert empty.splitlines()[-1].startswith("合计,0")


def test_a_withdrawn_notice_says_so_on_its_page_and_in_the_list(
    operator: httpx.Client, engine: Syndicator
) -> None:
    engine.withdraw(DEAD, "项目终止", by="值班员")
    page = operator.get(f"/notices/{DEAD}").text
    assert "本公告已撤回 · 项目终止" in page
    assert "已撤回" in page  # the version's state
    listed = operator.get("/notices", params={"state": "withdrawn"}).text
    assert DEAD in listed


def test_an_operator_withdraws_a_notice_from_its_page(
    client: httpx.Client, operator: httpx.Client, engine: Syndicator
) -> None:
    page = operator.get(f"/notices/{DEAD}").text
    assert 'action="/notices/HYJS-2026-0318/withdrawal"' in page
    form = {"csrf": csrf_of(page), "reason": "  招标人   终止招标 "}
    refused = operator.post(f"/notices/{DEAD}/withdrawal", data=form)  # not confirmed
    assert refused.status_code == 400
    assert engine.store.withdrawal(DEAD) is None
    done = operator.post(f"/notices/{DEAD}/withdrawal", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/notices/{DEAD}?withdrawn=1"
    withdrawal = engine.store.withdrawal(DEAD)
    assert withdrawal is not None
    assert (withdrawal.reason, withdrawal.by) == ("招标人 终止招标", "operator")
    shown = operator.get(done.headers["location"]).text
    assert "已撤回；撤回正在送往各渠道。" in shown
    assert "本公告已撤回 · 招标人 终止招标" in shown
    assert 'action="/notices/HYJS-2026-0318/withdrawal"' not in shown
    again = operator.post(f"/notices/{DEAD}/withdrawal", data={**form, "confirm": "yes"})
    assert again.status_code == 409
    unknown = operator.post("/notices/NO-SUCH/withdrawal", data={**form, "confirm": "yes"})
    assert unknown.status_code == 404


def test_a_reader_cannot_withdraw_a_notice(client: httpx.Client, engine: Syndicator) -> None:
    sign_in(client, token(engine, Scope.read, name="auditor"))
    page = client.get(f"/notices/{DEAD}").text
    assert "/withdrawal" not in page
    form = {"csrf": csrf_of(page), "reason": "x", "confirm": "yes"}
    assert client.post(f"/notices/{DEAD}/withdrawal", data=form).status_code == 403
    assert engine.store.withdrawal(DEAD) is None
