"""The dashboard's small parts: language choice, the catalogue, session cookies, the SVG chart."""

from __future__ import annotations

import pytest

from syndicate.store.base import TokenRecord
from syndicate.web.dashboard import i18n
from syndicate.web.dashboard.chart import bar_chart
from syndicate.web.dashboard.session import LIFETIME, issue, verify


@pytest.mark.parametrize(
    ("asked", "remembered", "header", "expected"),
    [
        (None, None, None, "zh"),
        (None, None, "en-US,en;q=0.9", "en"),
        (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, None, "fr-FR, en;q=0.5, zh;q=0.7", "zh"),
        (None, None, "en;q=0, zh;q=0.1", "zh"),
        (None, None, "de, fr", "zh"),
        (None, None, "en;q=bogus, zh-TW;q=0.3", "zh"),
        ("en", "zh", "zh-CN", "en"),
        (None, "en", "zh-CN", "en"),
        ("xx", None, "en", "en"),
    ],
)
def test_language_is_asked_then_remembered_then_the_browsers_then_chinese(
    asked: str | None, remembered: str | None, header: str | None, expected: str
) -> None:
    assert i18n.negotiate(asked, remembered, header) == expected


def test_every_phrase_has_both_languages_and_the_same_placeholders() -> None:
    for key, (zh, en) in i18n.MESSAGES.items():
        assert zh.strip(), key
        assert en.strip(), key
        assert sorted(_fields(zh)) == sorted(_fields(en)), key


def _fields(text: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def test_categories_read_as_the_yearly_report_in_chinese() -> None:
    assert i18n.Translator("zh").category("land_mineral") == "土地矿产"
    assert i18n.Translator("en").category("land_mineral") == "Land and minerals"


TOKEN = TokenRecord("0123456789ab", "ops", ("read",), "ab" * 32, 0.0)


def test_a_session_cookie_verifies_until_it_expires_and_not_when_forged() -> None:
    cookie, session = issue(TOKEN, 1000.0)
    assert TOKEN.secret_sha256 not in cookie
    found = verify(cookie, {TOKEN.id: TOKEN}.get, 1000.0 + LIFETIME - 1)
    assert found is not None
    assert found.csrf == session.csrf
    assert verify(cookie, {TOKEN.id: TOKEN}.get, 1000.0 + LIFETIME + 1) is None
    body, mac = cookie.split(".")
    assert verify(f"{body}.{mac[:-1]}0", {TOKEN.id: TOKEN}.get, 1000.0) in (None, found)
    assert verify(f"{body}x.{mac}", {TOKEN.id: TOKEN}.get, 1000.0) is None
    for junk in ["", ".", "a.b", "!!!.xyz", "e30.00"]:
        assert verify(junk, {TOKEN.id: TOKEN}.get, 1000.0) is None
    other = TokenRecord("0123456789ab", "ops", ("read",), "cd" * 32, 0.0)
    assert verify(cookie, {TOKEN.id: other}.get, 1000.0) is None  # another secret, another key
    revoked = TokenRecord("0123456789ab", "ops", ("read",), "ab" * 32, 0.0, revoked_at=5.0)
    assert verify(cookie, {TOKEN.id: revoked}.get, 1000.0) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    _, one = issue(TOKEN, 0.0)
    _, two = issue(TOKEN, 0.0)
    assert one.csrf_ok(one.csrf)
    assert not one.csrf_ok(two.csrf)
    assert not one.csrf_ok(None)


def test_the_chart_escapes_its_labels_and_scales_its_bars() -> None:
    svg = str(bar_chart("<t>", [("<script>", 10), ("b", 5), ("c", 0)]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;t&gt;" in svg
    widths = [int(w) for w in __import__("re").findall(r'class="bar"[^>]*width="(\d+)"', svg)]
    assert widths[0] == 2 * widths[1]
    assert widths[2] == 0
