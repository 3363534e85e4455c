"""A delivery is rendered once: every retry sends the bytes the first attempt sent.

The channel's renderer here would give a different body on every call (a render
counter in it), so byte-identical requests at the peer mean the payload was not
rendered again, and the ledger's digest is the same on every attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate import Syndicator
from syndicate.adapter import DeliveryContext, Payload
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.dispatcher import AttemptEvent
from syndicate.errors import StoreError
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.store.base import AttemptFilter, DeliveryState, NoticeRecord, Outcome
from syndicate.store.sqlite import SqliteStore

pytestmark = pytest.mark.integration


class CountingCms(CmsHttpAdapter):
    """cms_http whose body says how many times it has been rendered."""

    kind: ClassVar[str] = "counting_cms"
    renders = 0

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        CountingCms.renders += 1
        payload = super().render(notice, ctx)
        body = json.loads(payload.parts["body"])
        body["rendered"] = CountingCms.renders
        return Payload(
            payload.media_type,
            {"body": json.dumps(body).encode()},
            payload.headers,
            payload.target,
            payload.data,
        )


def test_a_retried_delivery_sends_byte_identical_payloads(
    sink: HttpSink,
    registry: AdapterRegistry,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    registry.register(CountingCms)
    CountingCms.renders = 0
    sink.script("/n", [Reply(503), Reply(200, reset="mid"), Reply(200)])
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
defaults:
  retry: {{max_attempts: 5, initial_delay: 50ms, jitter: 0s}}
channels:
  portal: {{adapter: counting_cms, url: {sink.url}/n, timeouts: {{read: 2s}}}}
routes: [{{channels: [portal]}}]
"""
    )
    stop = asyncio.Event()

    def seen(event: AttemptEvent) -> None:
        if event.state.terminal:
            stop.set()

    with Syndicator.from_config(path, registry=registry) as s:
        s.enqueue(make_notice())
        s.run(stop=stop, listener=seen)
        attempts = list(s.store.attempts(AttemptFilter()))
        (delivery,) = s.store.deliveries()

    assert delivery.state is DeliveryState.delivered
    # A refusal, a reset after the request was written (in doubt), then taken.
    assert [a.outcome for a in attempts] == [Outcome.transient] * 2 + [Outcome.delivered]
    bodies = [r.body for r in sink.requests]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1] == bodies[2]
    assert CountingCms.renders == 1
    assert json.loads(bodies[0])["rendered"] == 1
    digests = {a.payload_sha256 for a in attempts}
    assert len(digests) == 1
    body = bodies[0]
    expected = hashlib.sha256(b"body\0" + len(body).to_bytes(8, "big") + body).hexdigest()
    assert digests == {expected}


class CountingLedger(SqliteStore):
    """The SQLite ledger, counting how often the worker reads a notice back."""

    reads = 0

    def notice(self, notice_id: str, version: int) -> NoticeRecord | None:
        CountingLedger.reads += 1
        return super().notice(notice_id, version)


def test_a_notice_is_loaded_once_for_all_its_channels(
    sink: HttpSink,
    registry: AdapterRegistry,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    # Five channels claimed together: their attempts share one load (parse, sanitise).
    channels = "\n".join(f"  c{n}: {{adapter: cms_http, url: {sink.url}/c{n}}}" for n in range(5))
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
channels:
{channels}
routes: [{{channels: [c0, c1, c2, c3, c4]}}]
"""
    )
    with Syndicator.from_config(path, registry=registry) as s:
        config, ledger = s.config, s.store.path  # type: ignore[attr-defined]
    CountingLedger.reads = 0
    with Syndicator(config, registry, CountingLedger(ledger)) as s:
        s.enqueue(make_notice())
        s.run(once=True)
        states = [d.state for d in s.store.deliveries()]

    assert states == [DeliveryState.delivered] * 5
    assert len(sink.requests) == 5
    assert CountingLedger.reads == 1


class FlakyLedger(SqliteStore):
    """The SQLite ledger, failing the first read of a notice as a locked ledger would."""

    reads = 0

    def notice(self, notice_id: str, version: int) -> NoticeRecord | None:
        FlakyLedger.reads += 1
        if FlakyLedger.reads == 1:
            raise StoreError("the ledger is locked by another process")
        return super().notice(notice_id, version)


@pytest.mark.parametrize("body_chars", [200, 70_000], ids=["small, on the loop", "large, thread"])
def test_a_failed_read_of_the_notice_is_tried_again_not_remembered(
    sink: HttpSink,
    registry: AdapterRegistry,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
    body_chars: int,
) -> None:
    path = write_config(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms}}
defaults: {{retry: {{initial_delay: 10ms, jitter: 0s}}}}
channels:
  c0: {{adapter: cms_http, url: {sink.url}/c0}}
routes: [{{channels: [c0]}}]
"""
    )
    with Syndicator.from_config(path, registry=registry) as s:
        config, ledger = s.config, s.store.path  # type: ignore[attr-defined]
    FlakyLedger.reads = 0
    paragraph = "<p>" + "公告正文" * (body_chars // 4) + "</p>"
    with Syndicator(config, registry, FlakyLedger(ledger)) as s:
        s.enqueue(make_notice(body_html=paragraph))

        async def until_delivered() -> None:
            # One worker throughout: what it remembers of the failed read is what is tested.
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(10, stop.set)

            def seen(event: AttemptEvent) -> None:
                if event.outcome is Outcome.delivered:
                    stop.set()

            await s.run_async(stop=stop, listener=seen)

        asyncio.run(until_delivered())
        (delivery,) = s.store.deliveries()

    assert delivery.state is DeliveryState.delivered
    assert FlakyLedger.reads == 2
    assert len(sink.requests) == 1
    assert "公告正文" * 10 in sink.requests[0].body.decode()
