"""cms_http against a real CMS: Debian's WordPress 6.1, its REST API and an application password.

The channel is examples/wordpress/channels.yaml as shipped: what the tests
prove is what an operator copies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.adapter import DeliveryContext
from syndicate.store.base import AttemptFilter, DeliveryState, Outcome
from tests.peers.wordpress import ADMIN, WordPress

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wordpress" / "channels.yaml"


def syndicator(
    wp: WordPress, write_config: Callable[[str], Path], *, lookup: bool = True
) -> Syndicator:
    text = EXAMPLE.read_text(encoding="utf-8")
    if not lookup:
        start = text.index("    lookup:\n")
        end = text.index("    update:\n")
        text = text[:start] + text[end:]
    path = write_config(text)
    env = {"WP_URL": wp.url, "WP_USER": ADMIN, "WP_APP_PASSWORD": wp.app_password}
    return Syndicator.from_config(path, env=env)


def slug(notice_id: str, version: int = 1) -> str:
    return f"{notice_id}.v{version}.website".lower().replace(".", "-")


def posts_of(wp: WordPress, notice_id: str) -> list[dict[str, Any]]:
    """Every post (any status) whose slug came from this notice's deliveries."""
    prefix = notice_id.lower() + "-"
    return [p for p in wp.posts() if p["slug"].startswith(prefix)]


def die_holding(s: Syndicator, *, send: bool) -> None:
    """A worker that claims the delivery, maybe sends it, and dies before recording anything."""
    (claim,) = s.store.claim("dead-host:1:x", time.time(), 0.05, 1)
    if send:
        adapter = s.adapters[claim.channel]
        notice = s.load_notice(claim.notice_id, claim.notice_version)
        ctx = DeliveryContext(claim.channel, claim.idempotency_key, claim.delivery_id)

        async def go() -> None:
            try:
                await adapter.send(adapter.render(notice, ctx), ctx)
            finally:
                await adapter.aclose()

        asyncio.run(go())
    time.sleep(0.1)  # the lease runs out


def test_a_notice_becomes_a_published_post_at_its_own_link(
    wordpress: WordPress,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    with syndicator(wordpress, write_config) as s:
        s.enqueue(make_notice(id="WP-SMOKE-1"))
        assert s.drain(timeout=60)
        (delivery,) = s.store.deliveries()
    assert delivery.state is DeliveryState.delivered, delivery.last_error
    post = wordpress.get_json(wordpress.api(f"/wp/v2/posts/{delivery.remote_id}", context="edit"))
    assert post["title"]["raw"] == "河源市东环路改造工程施工招标公告"
    assert post["slug"] == "wp-smoke-1-v1-website"
    assert delivery.remote_url == post["link"] == f"{wordpress.url}/wp-smoke-1-v1-website/"
    status, page = wordpress.page(delivery.remote_url)
    assert status == 200
    assert "河源市东环路改造工程施工招标公告" in page


def test_a_correction_updates_the_same_post_and_a_termination_takes_it_down(
    wordpress: WordPress,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    with syndicator(wordpress, write_config) as s:
        s.enqueue(make_notice(id="WP-FIX-1"))
        assert s.drain(timeout=60)
        s.enqueue(
            make_notice(
                id="WP-FIX-1",
                version=2,
                nature="correction",
                title="河源市东环路改造工程施工招标更正公告",
                body_html="<p>投标截止时间顺延至12月25日。</p>",
            )
        )
        assert s.drain(timeout=60)
        v1, v2 = s.store.deliveries(notice_id="WP-FIX-1")
        (post,) = posts_of(wordpress, "WP-FIX-1")
        status, page = wordpress.page(str(v2.remote_url))

        s.enqueue(make_notice(id="WP-FIX-1", version=3, nature="termination"))
        assert s.drain(timeout=60)
        v3 = s.store.deliveries(notice_id="WP-FIX-1")[2]
        (taken_down,) = posts_of(wordpress, "WP-FIX-1")

    assert [d.state for d in (v1, v2, v3)] == [DeliveryState.delivered] * 3, v3.last_error
    assert v2.remote_id == v1.remote_id == str(post["id"])
    assert v2.remote_url == v1.remote_url == post["link"] == f"{wordpress.url}/wp-fix-1-v1-website/"
    assert post["title"]["raw"] == "河源市东环路改造工程施工招标更正公告"
    assert "投标截止时间顺延至12月25日" in post["content"]["raw"]
    assert status == 200
    assert "河源市东环路改造工程施工招标更正公告" in page
    assert v3.remote_id == v1.remote_id
    assert taken_down["id"] == post["id"]
    assert taken_down["status"] == "draft"
    assert wordpress.page(str(v1.remote_url))[0] == 404


def test_an_in_doubt_delivery_found_by_lookup_is_not_posted_again(
    wordpress: WordPress,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    with syndicator(wordpress, write_config) as s:
        s.enqueue(make_notice(id="WP-DOUBT-1"))
        die_holding(s, send=True)
        (made,) = posts_of(wordpress, "WP-DOUBT-1")
        assert s.drain(timeout=60)
        (delivery,) = s.store.deliveries()
        (attempt,) = s.store.attempts(AttemptFilter())
    assert delivery.state is DeliveryState.delivered, delivery.last_error
    assert posts_of(wordpress, "WP-DOUBT-1") == [made]
    assert delivery.remote_id == str(made["id"])
    assert delivery.remote_url == made["link"]
    assert attempt.outcome is Outcome.delivered


def test_an_in_doubt_delivery_not_found_is_posted_once(
    wordpress: WordPress,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    with syndicator(wordpress, write_config) as s:
        s.enqueue(make_notice(id="WP-DOUBT-2"))
        die_holding(s, send=False)
        assert s.drain(timeout=60)
        (delivery,) = s.store.deliveries()
    (post,) = posts_of(wordpress, "WP-DOUBT-2")
    assert delivery.state is DeliveryState.delivered, delivery.last_error
    assert delivery.remote_id == str(post["id"])


def test_without_a_lookup_an_in_doubt_delivery_is_posted_twice(
    wordpress: WordPress,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    """What the README warns of: WordPress ignores the key, so the resend is a second post."""
    with syndicator(wordpress, write_config, lookup=False) as s:
        s.enqueue(make_notice(id="WP-DOUBT-3"))
        die_holding(s, send=True)
        assert s.drain(timeout=60)
        (delivery,) = s.store.deliveries()
    first, second = posts_of(wordpress, "WP-DOUBT-3")
    assert first["slug"] == slug("WP-DOUBT-3")
    assert second["slug"] == f"{slug('WP-DOUBT-3')}-2"
    assert delivery.remote_id == str(second["id"])
