"""Read models through Syndicator: filters, cursors, channel health, pause, lazy adapters."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syndicate import Syndicator
from syndicate.adapter import Adapter, DeliveryContext, Options, Payload, Receipt
from syndicate.errors import PermanentDeliveryError, QueryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.readmodels import (
    AttemptFilter,
    DeliveryFilter,
    NoticeFilter,
    NoticeState,
    parse_notice_ref,
)
from syndicate.registry import AdapterRegistry
from syndicate.store.base import DeliveryState, Outcome

pytestmark = pytest.mark.integration


class BoardOptions(Options):
    refuse: tuple[str, ...] = ()  # notice ids refused for good
    stumble: tuple[str, ...] = ()  # notice ids that fail once, transiently


class BoardAdapter(Adapter[BoardOptions]):
    """A notice board in memory: takes everything but what it is told to refuse."""

    kind: ClassVar[str] = "board"
    Options = BoardOptions
    built: ClassVar[list[str]] = []
    tries: ClassVar[dict[str, int]] = {}

    def __init__(self, channel: str, options: BoardOptions, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        type(self).built.append(channel)

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        return Payload("text/plain", {"sheet.txt": notice.title.encode()}, target=self.channel)

    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        notice_id = ctx.idempotency_key.split(".v")[0]
        if notice_id in self.options.refuse:
            raise PermanentDeliveryError("the board refuses it", status="422")
        n = self.tries[ctx.idempotency_key] = self.tries.get(ctx.idempotency_key, 0) + 1
        if notice_id in self.options.stumble and n == 1:
            raise TransientDeliveryError("board busy", status="503", retry_after=0.01)
        return Receipt(remote_id=ctx.idempotency_key, url=f"board://{ctx.idempotency_key}")


class CheckingBoard(BoardAdapter):
    """A board that looks at a notice before taking it."""

    kind: ClassVar[str] = "checking_board"

    def check(self, notice: Notice) -> list[str]:
        return [] if notice.summary else ["a summary"]


CONFIG = """
store: {url: ledger.db}
worker: {poll_interval: 10ms}
defaults: {retry: {max_attempts: 3, initial_delay: 10ms, jitter: 0s}}
channels:
  hall: {adapter: board, description: 交易大厅公告栏, refuse: [HYZB-2026-0002], stumble: [HYZB-2026-0001]}
  gate: {adapter: board}
  screen: {adapter: checking_board, enabled: false}
routes:
  - channels: [hall]
  - match: {category: [land_mineral]}
    channels: [gate]
"""


@pytest.fixture
def syndicator(write_config: Callable[[str], Path]) -> Any:
    BoardAdapter.built.clear()
    BoardAdapter.tries.clear()
    registry = AdapterRegistry({"board": BoardAdapter, "checking_board": CheckingBoard})
    with Syndicator.from_config(write_config(CONFIG), registry=registry) as s:
        yield s


LAND = {
    "category": "land_mineral",
    "notice_type": "transfer",
    "construction": None,
    "title": "河源市国有建设用地使用权挂牌出让公告",
    "project_code": "HYTD2026-007",
}


def fill(s: Syndicator, make_notice: Callable[..., dict[str, Any]]) -> None:
    for i in range(5):
        s.enqueue(make_notice(id=f"HYZB-2026-{i:04d}", title=f"东环路第{i}标段施工招标公告"))
    s.enqueue(make_notice(id="HYTD-2026-0007", **LAND))
    assert s.drain(timeout=20)


def test_reading_builds_no_adapter(syndicator: Syndicator, make_notice: Any) -> None:
    syndicator.enqueue(make_notice())
    syndicator.status_matrix()
    syndicator.notices()
    syndicator.deliveries()
    syndicator.attempt_log()
    syndicator.channel_health()
    syndicator.year_report(2026)
    syndicator.pause("gate")
    assert BoardAdapter.built == []  # an API-only process opens no channel
    syndicator.preview("HYZB-2026-0001.v1", "hall")
    assert BoardAdapter.built == ["hall"]
    syndicator.run(once=True)
    assert sorted(BoardAdapter.built) == ["gate", "hall"]  # never the disabled screen


def test_notice_list_filters_and_pages(syndicator: Syndicator, make_notice: Any) -> None:
    fill(syndicator, make_notice)
    first = syndicator.notices(limit=4)
    assert [n.id for n in first.items] == [
        "HYTD-2026-0007",
        "HYZB-2026-0004",
        "HYZB-2026-0003",
        "HYZB-2026-0002",
    ]
    assert first.next_cursor is not None
    rest = syndicator.notices(cursor=first.next_cursor, limit=4)
    assert [n.id for n in rest.items] == ["HYZB-2026-0001", "HYZB-2026-0000"]
    assert rest.next_cursor is None
    land = syndicator.notices(NoticeFilter(category="land_mineral"))
    assert [(n.id, n.state) for n in land.items] == [("HYTD-2026-0007", NoticeState.published)]
    assert land.items[0].as_dict()["category_label"] == "土地矿产"
    by_code = syndicator.notices(NoticeFilter(text="HYTD2026"))
    assert [n.id for n in by_code.items] == ["HYTD-2026-0007"]
    by_title = syndicator.notices(NoticeFilter(text="第3标段"))
    assert [n.id for n in by_title.items] == ["HYZB-2026-0003"]
    partly = syndicator.notices(NoticeFilter(state=NoticeState.partly_published))
    assert [n.id for n in partly.items] == ["HYZB-2026-0002"]
    assert syndicator.notices(NoticeFilter(region="4416*")).items
    assert not syndicator.notices(NoticeFilter(region="4417*")).items
    json.dumps(first.as_dict(), ensure_ascii=False)  # JSON-ready as it is


def test_cursor_of_another_list_is_refused(syndicator: Syndicator, make_notice: Any) -> None:
    fill(syndicator, make_notice)
    cursor = syndicator.notices(limit=1).next_cursor
    with pytest.raises(QueryError) as caught:
        syndicator.attempt_log(cursor=cursor)
    assert str(caught.value.problems[0]).startswith("cursor: ")
    with pytest.raises(QueryError):
        syndicator.deliveries(cursor="not-a-cursor!")
    with pytest.raises(QueryError):
        syndicator.notices(limit=0)


def test_attempts_and_deliveries_newest_first(syndicator: Syndicator, make_notice: Any) -> None:
    fill(syndicator, make_notice)
    attempts = syndicator.attempt_log(AttemptFilter(notice_id="HYZB-2026-0001"))
    assert [(a.number, a.outcome) for a in attempts.items] == [
        (2, Outcome.delivered),
        (1, Outcome.transient),
    ]
    pages, cursor = [], None
    while True:
        page = syndicator.attempt_log(cursor=cursor, limit=3)
        pages.append([a.id for a in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    ids = [i for p in pages for i in p]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == len(set(ids)) == 8
    failed = syndicator.attempt_log(AttemptFilter(error_class="PermanentDeliveryError"))
    assert [a.notice_id for a in failed.items] == ["HYZB-2026-0002"]
    dead = syndicator.deliveries(DeliveryFilter(state=DeliveryState.failed))
    assert [(d.notice_id, d.channel) for d in dead.items] == [("HYZB-2026-0002", "hall")]
    by_class = syndicator.deliveries(DeliveryFilter(error_class="PermanentDeliveryError"))
    assert [d.notice_id for d in by_class.items] == ["HYZB-2026-0002"]
    gate = syndicator.deliveries(DeliveryFilter(channel="gate"))
    assert [d.notice_id for d in gate.items] == ["HYTD-2026-0007"]


def test_notice_detail_has_every_version_delivery_and_attempt(
    syndicator: Syndicator, make_notice: Any
) -> None:
    syndicator.enqueue(make_notice(id="HYZB-2026-0001"))
    assert syndicator.drain(timeout=20)  # a pending version 1 would be superseded by 2
    syndicator.enqueue(make_notice(id="HYZB-2026-0001", version=2, nature="correction"))
    assert syndicator.drain(timeout=20)
    detail = syndicator.notice_detail("HYZB-2026-0001")
    assert detail is not None
    assert [v.version for v in detail.versions] == [1, 2]
    (delivery,) = detail.versions[0].deliveries
    assert [a.outcome for a in delivery.attempts] == [Outcome.transient, Outcome.delivered]
    assert delivery.attempts[-1].payload_sha256
    assert syndicator.notice_detail("NO-SUCH") is None
    doc = detail.as_dict()
    assert doc["versions"][1]["deliveries"][0]["attempt_log"][-1]["outcome"] == "delivered"


def test_channel_health_pause_and_resume(syndicator: Syndicator, make_notice: Any) -> None:
    fill(syndicator, make_notice)
    health = syndicator.channel_health()
    assert [c.name for c in health.channels] == ["hall", "gate", "screen"]
    hall = health.get("hall")
    assert hall is not None
    assert hall.enabled
    assert not hall.paused
    assert hall.description == "交易大厅公告栏"
    assert hall.last_hour.attempts == 7
    assert hall.last_hour.delivered == 5
    # Two notices fail on the hall, one for good and one once; which attempt is
    # recorded last depends on which send the event loop finished first.
    failures = [
        a
        for a in syndicator.attempt_log(AttemptFilter(channel="hall")).items
        if a.outcome is not Outcome.delivered
    ]
    assert {a.notice_id for a in failures} == {"HYZB-2026-0001", "HYZB-2026-0002"}
    assert hall.last_error is not None
    assert (hall.last_error.notice_id, hall.last_error.error_class) == (
        failures[0].notice_id,
        failures[0].error_class,
    )
    assert hall.backlog == 0
    assert hall.oldest_pending_age is None
    assert health.get("screen") is not None
    assert not health.get("screen").enabled

    assert syndicator.pause("hall", by="operator")
    assert not syndicator.pause("hall")  # already paused
    syndicator.enqueue(make_notice(id="HYZB-2026-0100"))
    syndicator.run(once=True)
    hall = syndicator.channel_health().get("hall")
    assert hall is not None
    assert hall.paused
    assert hall.paused_by == "operator"
    assert hall.backlog == 1
    assert hall.oldest_pending_age is not None
    assert hall.as_dict()["paused"] is True
    assert syndicator.resume("hall")
    syndicator.run(once=True)
    assert syndicator.channel_health().get("hall").backlog == 0  # type: ignore[union-attr]
    with pytest.raises(QueryError):
        syndicator.pause("no-such-channel")


def test_preview_and_year_report(syndicator: Syndicator, make_notice: Any) -> None:
    fill(syndicator, make_notice)
    shown = syndicator.preview("HYTD-2026-0007", "gate")
    assert shown.idempotency_key == "HYTD-2026-0007.v1.gate"
    assert shown.parts[0].text == LAND["title"]
    assert shown.as_dict()["payload_sha256"] == shown.payload_sha256
    with pytest.raises(QueryError):
        syndicator.preview("HYTD-2026-0007.v9", "gate")
    report = syndicator.year_report(2026)
    assert report.notices == {"construction": 5, "land_mineral": 1}
    assert report.delivered["construction"]["hall"] == 4
    assert report.not_delivered == 1
    assert report.as_dict()["labels"]["land_mineral"] == "土地矿产"


def test_notice_ref_reads_the_printed_form() -> None:
    assert parse_notice_ref("HYZB-2026-0001.v1").version == 1
    assert parse_notice_ref("HYZB-2026-0001").version is None
    assert parse_notice_ref("A.v2", exists=lambda text: text == "A.v2").id == "A.v2"
