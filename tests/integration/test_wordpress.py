"""cms_http against a real CMS: Debian's WordPress 6.1, its REST API and an application password."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.store.base import DeliveryState
from tests.peers.wordpress import ADMIN, WordPress

pytestmark = pytest.mark.integration

BODY = (
    '{"title": {{ notice.title | tojson }}, "content": {{ html | tojson }}, '
    '"status": "publish", "slug": {{ idempotency_key | lower | replace(".", "-") | tojson }}}'
)


def wordpress_config(wp: WordPress, *, extra: str = "") -> str:
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 60s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 30s
  retry: {{max_attempts: 3, initial_delay: 50ms, max_delay: 200ms, jitter: 0s}}
channels:
  website:
    adapter: cms_http
    url: "{wp.api("/wp/v2/posts")}"
    auth: {{type: basic, username: {ADMIN}, password: "${{WP_APP_PASSWORD}}"}}
    remote_id: id
    remote_url: link
    template: '{BODY}'
{extra}
routes:
  - channels: [website]
"""


def syndicator(wp: WordPress, write_config: Callable[[str], Path], **kw: Any) -> Syndicator:
    path = write_config(wordpress_config(wp, **kw))
    return Syndicator.from_config(path, env={"WP_APP_PASSWORD": wp.app_password})


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
