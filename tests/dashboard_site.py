"""A small trading center for the dashboard's tests: three channels on an HttpSink, a few notices.

The first notice goes out everywhere; then the city portal answers 503 twice, so
its correction's delivery there ends dead (two attempts allowed) and a replay can
bring it home (the newest version: a replay never sends an overtaken one).
One notice is hostile: markup and event handlers in its title and body.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.tokens import Scope

EXAMPLES = Path(__file__).parent.parent / "examples" / "notices"
DEAD = "HYJS-2026-0318"  # its correction's (v2) delivery to city-portal ends dead
HOSTILE_ID = "HYJS-2026-0666-XSS"
HOSTILE_TITLE = '<script>window.__pwned="title"</script><img src=x onerror="window.__pwned=1">标题'
HOSTILE_BODY = (
    '<p onmouseover="window.__pwned=2">正文</p><script>window.__pwned="body"</script>'
    '<svg onload="window.__pwned=3"></svg>'
)


def config(url: str) -> str:
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 2, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    description: 河源市公共资源交易网
    url: {url}/website
    allow_insecure_transport: true
  city-portal:
    adapter: cms_http
    description: 河源市人民政府门户网站
    url: {url}/portal
    allow_insecure_transport: true
  land-market:
    adapter: cms_http
    description: 中国土地市场网
    url: {url}/land
    allow_insecure_transport: true
routes:
  - match: {{category: [construction, procurement, state_property, work_news]}}
    channels: [trading-website, city-portal]
  - match: {{category: [land_mineral]}}
    channels: [trading-website, land-market]
"""


def example(name: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(fields)
    return data


def seed(sink: HttpSink, folder: Path, *, hostile: bool = True) -> Syndicator:
    """The ledger the tests look at: one dead delivery, the rest delivered."""
    path = folder / "channels.yaml"
    path.write_text(config(sink.url), encoding="utf-8")
    engine = Syndicator.from_config(path)
    engine.enqueue(example("construction-tender"))
    assert engine.drain(timeout=20)
    sink.script("/portal", [Reply(503), Reply(503)])
    engine.enqueue(example("construction-tender-correction"))  # dead on city-portal
    assert engine.drain(timeout=20)
    for name in (
        "procurement-result",
        "land-transfer",
        "state-property-transfer",
        "work-news",
    ):
        engine.enqueue(example(name))
    if hostile:
        engine.enqueue(
            example(
                "construction-candidates",
                id=HOSTILE_ID,
                title=HOSTILE_TITLE,
                body_html=HOSTILE_BODY,
            )
        )
    else:
        engine.enqueue(example("construction-candidates"))
    assert engine.drain(timeout=20)
    return engine


def token(engine: Syndicator, *scopes: Scope, name: str = "operator") -> str:
    return engine.tokens.create(name, scopes).secret


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: httpx.Client, secret: str) -> httpx.Response:
    form = client.get("/login")
    return client.post("/login", data={"token": secret, "csrf": csrf_of(form.text), "next": "/"})
