"""The consistency report over real channels on loopback: a rendering that drops or changes a fact is flagged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink

pytestmark = pytest.mark.integration

FACTS = {
    "project_code": "HYZB2026-001",
    "tenderer": {"name": "河源市交通运输局"},
    "deadlines": {
        "doc_sale_start": "2026-11-20T09:00:00+08:00",
        "doc_sale_end": "2026-11-27T17:30:00+08:00",
        "submission_deadline": "2026-12-18T09:30:00+08:00",
        "bid_opening_at": "2026-12-18T09:30:00+08:00",
        "bid_opening_place": "河源市公共资源交易中心第二开标室",
    },
}


def config(url: str, folder: Path) -> str:
    # Three sites over HTTP, one over SFTP-less file formats: the default JSON,
    # an operator's template that leaves out the project code, and one that
    # states another maximum price.
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s}}
defaults:
  retry: {{max_attempts: 2, initial_delay: 20ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {url}/site
    allow_insecure_transport: true
  city-portal:
    adapter: cms_http
    url: {url}/portal
    format: form
    allow_insecure_transport: true
    template: |
      {{"title": {{{{ notice.title | tojson }}}}, "tenderer": {{{{ notice.tenderer.name | tojson }}}},
       "price": "{{{{ notice.construction.max_price.value }}}}",
       "deadline": "{{{{ notice.deadlines.submission_deadline | local_time }}}}",
       "opening": "{{{{ notice.deadlines.bid_opening_at | local_time }}}}",
       "sale": "{{{{ notice.deadlines.doc_sale_start | local_time }}}} — {{{{ notice.deadlines.doc_sale_end | local_time }}}}",
       "place": {{{{ notice.deadlines.bid_opening_place | tojson }}}}}}
  county-site:
    adapter: cms_http
    url: {url}/county
    allow_insecure_transport: true
    html_template: |
      <h1>{{{{ notice.title }}}}</h1><p>项目编号 {{{{ notice.project_code }}}}</p>
      <p>招标人 {{{{ notice.tenderer.name }}}}；最高投标限价 3,950,000.00 元</p>
      <p>文件获取 {{{{ notice.deadlines.doc_sale_start | local_time }}}} 至 {{{{ notice.deadlines.doc_sale_end | local_time }}}}，
      投标截止及开标 {{{{ notice.deadlines.bid_opening_at | local_time }}}}，{{{{ notice.deadlines.bid_opening_place }}}}</p>
    template: |
      {{"title": {{{{ notice.title | tojson }}}}, "html": {{{{ html | tojson }}}}}}
routes:
  - channels: [trading-website, city-portal, county-site]
"""


def test_a_channel_that_drops_or_changes_a_fact_is_flagged(
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    with Syndicator.from_config(write_config(config(sink.url, tmp_path))) as s:
        s.enqueue(make_notice(**FACTS))
        assert s.drain(timeout=30)
        audit = s.audit("HYZB-2026-0001")
    assert audit.version == 1
    assert audit.digest_matches
    names = [f.name for f in audit.facts]
    assert names == [
        "title",
        "project_code",
        "tenderer",
        "construction.max_price",
        "deadlines.doc_sale_start",
        "deadlines.doc_sale_end",
        "deadlines.submission_deadline",
        "deadlines.bid_opening_at",
        "deadlines.bid_opening_place",
    ]
    channels = {c.channel: c for c in audit.channels}
    site, portal, county = (channels[n] for n in ("trading-website", "city-portal", "county-site"))
    assert all(c.state == "delivered" for c in audit.channels)
    # What was sent is what is rendered now: the facts are those of the delivered payload.
    assert all(c.payload_sha256 == c.rendered_sha256 for c in audit.channels)
    assert all(c.notes == [] for c in audit.channels)
    assert site.consistent, site.differences
    assert site.remote_url or site.remote_id
    assert portal.differences == ["项目编号 (project_code) 'HYZB2026-001' not found"]
    assert county.differences == ["最高投标限价 (construction.max_price) '3850000.00 元' not found"]
    assert not audit.consistent
    as_dict = audit.as_dict()
    assert as_dict["consistent"] is False
    assert as_dict["channels"][0]["receipt"]["remote_id"] == site.remote_id


def test_a_body_the_sanitiser_changed_is_audited_as_it_was_sent(
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    # The channels get the body sanitised; rendering again for the audit must start from
    # the same, or every such notice reads as "changed since" with nothing changed.
    body = (
        '<p onclick="steal()">河源市东环路改造工程已具备招标条件。</p>'
        "<script>alert(1)</script><p>项目位于河源市源城区。</p>"
    )
    with Syndicator.from_config(write_config(config(sink.url, tmp_path))) as s:
        s.enqueue(make_notice(body_html=body, **FACTS))
        assert s.drain(timeout=30)
        audit = s.audit("HYZB-2026-0001")
    sent = [c.payload_sha256 for c in audit.channels]
    assert all(sent)
    assert [c.rendered_sha256 for c in audit.channels] == sent
    assert all(c.notes == [] for c in audit.channels)
