"""Approval bound to content, on both backends: nothing reaches a channel before the last step.

A real HTTP peer counts what arrives; the ledger is asked what it recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.approval import ApprovalState, Decision
from syndicate.demo.http_sink import HttpSink
from syndicate.errors import ApprovalRefused
from syndicate.notice import LOCAL_TZ
from syndicate.store.base import DeliveryState, NoticeFilter, NoticeState
from tests.peers.postgres import on_backend

pytestmark = pytest.mark.integration

STEPS = ["科室负责人", "分管领导"]


@pytest.fixture
def config(write_config: Callable[[str], Path], ledger_url: str, sink: HttpSink) -> Path:
    return write_config(
        on_backend(
            f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 2, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {sink.url}/api/notices
    allow_insecure_transport: true
routes:
  - channels: [trading-website]
approvals:
  - match: {{category: [construction]}}
    steps: [{", ".join(STEPS)}]
""",
            ledger_url,
        )
    )


def refused(call: Callable[[], Any]) -> ApprovalRefused:
    with pytest.raises(ApprovalRefused) as info:
        call()
    return info.value


def test_nothing_is_delivered_until_every_step_is_approved_in_order(
    config: Path, sink: HttpSink, make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(config) as s:
        accepted = s.enqueue(make_notice())
        assert accepted.approval_steps == tuple(STEPS)
        assert accepted.channels == ["trading-website"]
        digest = accepted.digest
        assert s.store.deliveries() == []
        assert s.drain(timeout=5)
        assert sink.requests == []
        again = s.enqueue(make_notice())  # idempotent: still awaiting, same channels
        assert (again.created, again.channels) == (False, ["trading-website"])

        (waiting,) = s.status_matrix().awaiting
        assert (waiting.id, waiting.version, waiting.step) == ("HYZB-2026-0001", 1, STEPS[0])
        listed = s.notices(NoticeFilter(state=NoticeState.awaiting_approval)).items
        assert [(n.id, n.state) for n in listed] == [
            ("HYZB-2026-0001", NoticeState.awaiting_approval)
        ]
        assert s.notices(NoticeFilter(state=NoticeState.published)).items == ()

        nid = "HYZB-2026-0001"
        out_of_order = refused(lambda: s.approve(nid, 1, STEPS[1], by="王副主任", digest=digest))
        assert "'科室负责人' comes before '分管领导'" in str(out_of_order)
        unseen = refused(lambda: s.approve(nid, 1, STEPS[0], by="李科长", digest="f" * 64))
        assert "a decision counts only for the content the approver saw" in str(unseen)
        assert s.approval_trails(nid)[1].decisions == ()  # refusals change nothing

        first = s.approve(nid, 1, STEPS[0], by="李科长", digest=digest, comment="同意")
        assert (first.channels, first.trail.pending_step) == ([], STEPS[1])
        twice = refused(lambda: s.approve(nid, 1, STEPS[0], by="李科长", digest=digest))
        assert "already approved by 李科长" in str(twice)
        assert s.store.deliveries() == []
        assert (s.status_matrix().awaiting[0].step) == STEPS[1]

        last = s.approve(nid, 1, STEPS[1], by="王副主任", digest=digest.upper())
        assert last.channels == ["trading-website"]
        assert last.trail.state is ApprovalState.approved
        assert s.drain(timeout=20)
        (delivery,) = s.store.deliveries()
        assert delivery.state is DeliveryState.delivered
        assert len(sink.requests) == 1
        assert s.status_matrix().awaiting == ()

        trail = s.approval_trails(nid)[1]
        assert [(d.step, d.decision, d.approver, d.digest, d.comment) for d in trail.decisions] == [
            (STEPS[0], Decision.approved, "李科长", digest, "同意"),
            (STEPS[1], Decision.approved, "王副主任", digest, None),
        ]
        detail = s.notice_detail(nid)
        assert detail is not None
        shown = detail.as_dict()["versions"][0]
        assert shown["state"] == "published"
        assert [d["by"] for d in shown["approval"]["decisions"]] == ["李科长", "王副主任"]
        audit = s.audit(nid)
        assert audit.approvals_match
        assert audit.approval == trail
        assert s.verify().ok  # type: ignore[union-attr]
        links = [link.kind for link in s.store.chain_links(0, 100)]
        assert links[:4] == ["notice", "approval_request", "approval", "approval"]

        # A new version needs its own approvals; it waits whatever v1's were.
        v2 = s.enqueue(make_notice(version=2, nature="correction"))
        assert v2.awaiting_approval
        stale = refused(lambda: s.approve(nid, 2, STEPS[0], by="李科长", digest=digest))
        assert "is not this version's" in str(stale)
        assert [d.notice_version for d in s.store.deliveries()] == [1]


def test_a_rejected_version_is_never_delivered_and_odd_decisions_are_refused(
    config: Path, sink: HttpSink, make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(config) as s:
        digest = s.enqueue(make_notice()).digest
        nid = "HYZB-2026-0001"
        missing = refused(lambda: s.approve("NO-SUCH", 1, STEPS[0], by="李科长", digest=digest))
        assert missing.status == 404
        no_version = refused(lambda: s.approve(nid, 3, STEPS[0], by="李科长", digest=digest))
        assert no_version.status == 404
        assert "no notice HYZB-2026-0001.v3" in str(no_version)
        unknown = refused(lambda: s.approve(nid, 1, "主任", by="李科长", digest=digest))
        assert "no step '主任'" in str(unknown)
        no_reason = refused(
            lambda: s.reject(nid, 1, STEPS[0], by="李科长", digest=digest, reason=" ")
        )
        assert no_reason.status == 422

        rejected = s.reject(nid, 1, STEPS[0], by="李科长", digest=digest, reason="金额有误")
        assert rejected.trail.state is ApprovalState.rejected
        assert rejected.channels == []
        after = refused(lambda: s.approve(nid, 1, STEPS[1], by="王副主任", digest=digest))
        assert "rejected at step '科室负责人' by 李科长" in str(after)
        assert s.drain(timeout=5)
        assert sink.requests == []
        assert s.store.deliveries() == []
        (row,) = s.notices().items
        assert row.state is NoticeState.rejected
        assert [n.id for n in s.notices(NoticeFilter(state=NoticeState.rejected)).items] == [nid]
        assert s.notices(NoticeFilter(state=NoticeState.awaiting_approval)).items == ()

        # Work news needs no approval: delivered at once, and a decision on it is refused.
        news = make_notice(
            id="HY-NEWS-1", category="work_news", notice_type="news", project_code=None
        )
        news.pop("construction")
        accepted = s.enqueue(news)
        assert not accepted.awaiting_approval
        needless = refused(
            lambda: s.approve("HY-NEWS-1", 1, STEPS[0], by="李科长", digest=accepted.digest)
        )
        assert needless.status == 422
        assert s.drain(timeout=20)
        assert len(sink.requests) == 1
        assert s.verify().ok  # type: ignore[union-attr]


def test_the_yearly_report_counts_approvals_and_the_wait_to_publication(
    config: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    with Syndicator.from_config(config) as s:
        year = datetime.fromisoformat(make_notice()["publish_at"]).astimezone(LOCAL_TZ).year
        assert s.disclosure(year).approvals is None  # the ledger records no approval yet
        digest = s.enqueue(make_notice()).digest
        for step in STEPS:
            s.approve("HYZB-2026-0001", 1, step, by="李科长", digest=digest)
        assert s.drain(timeout=20)
        figures = s.disclosure(year)
        assert figures.approvals == 1
        assert figures.approval_to_publication_hours is not None
        assert figures.approval_to_publication_hours >= 0
        assert s.disclosure(year).to_csv() == figures.to_csv()
        assert s.disclosure(year - 1).approvals == 0  # approvals are recorded: a true zero
