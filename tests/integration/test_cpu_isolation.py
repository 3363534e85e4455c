"""One channel's hostile answer never makes another channel's attempt time out.

A CMS on loopback answers every push with 1 MB built to make a naive
tag-stripping regex backtrack from every `<`; a second channel answers
normally and has a short timeout. If the first answer were processed in
quadratic time on the worker's loop, the second attempt would run out of time.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptFilter
from syndicate.syndicator import Syndicator
from tests.conftest import BASE_NOTICE

pytestmark = pytest.mark.integration

POISON = b"<a" * (1 << 19)  # 1 MB, no '>' anywhere


@pytest.mark.timeout(120)
def test_a_hostile_answer_does_not_stall_other_channels(tmp_path: Path, sink: HttpSink) -> None:
    (tmp_path / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s, lease: 60s}}
defaults: {{retry: {{max_attempts: 1}}}}
channels:
  hostile:
    adapter: cms_http
    url: {sink.url}/hostile
    timeout: 30s
  calm:
    adapter: cms_http
    url: {sink.url}/calm
    timeout: 3s
routes:
  - channels: [hostile, calm]
""",
        encoding="utf-8",
    )
    sink.script("/hostile", [Reply(500, body=POISON)] * 5)
    sink.script("/calm", [Reply(201, delay=0.2)] * 5)
    with Syndicator.from_config(tmp_path / "channels.yaml") as syndicator:
        for i in range(5):
            notice = copy.deepcopy(BASE_NOTICE)
            notice.update(id=f"HYZB-2026-{i:04d}", publish_at="2024-01-01T09:00:00+08:00")
            syndicator.enqueue(notice)
        syndicator.drain(timeout=90)
        attempts = list(syndicator.store.attempts(AttemptFilter()))
    calm = [a for a in attempts if a.channel == "calm"]
    hostile = [a for a in attempts if a.channel == "hostile"]
    assert [a.outcome.value for a in calm] == ["delivered"] * 5, [a.error_message for a in calm]
    assert len(hostile) == 5
    for a in hostile:
        assert a.status == "500"
        assert len(a.error_message or "") < 2000


def test_a_render_failure_is_permanent_not_retried(tmp_path: Path, sink: HttpSink) -> None:
    # Rendering is pure: what fails once fails every time, so it is not retried until dead.
    (tmp_path / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
defaults: {{retry: {{max_attempts: 5, initial_delay: 10ms, jitter: 0s}}}}
channels:
  site:
    adapter: cms_http
    url: {sink.url}/n
    template: '{{"a": {{{{ (notice.title | length) // 0 }}}}}}'
routes:
  - channels: [site]
""",
        encoding="utf-8",
    )
    with Syndicator.from_config(tmp_path / "channels.yaml") as syndicator:
        notice = copy.deepcopy(BASE_NOTICE)
        notice.update(publish_at="2024-01-01T09:00:00+08:00")
        syndicator.enqueue(notice)
        syndicator.drain(timeout=30)
        attempts = list(syndicator.store.attempts(AttemptFilter()))
    [attempt] = attempts
    assert attempt.outcome.value == "permanent"
    assert "cannot render the notice for this channel: ZeroDivisionError" in str(
        attempt.error_message
    )
    assert sink.requests == []
