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
        # (The rules the notice breaks in warn mode are chained after it, as warnings.)
        links = [link.kind for link in s.store.chain_links(0, 100) if link.kind != "warning"]
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

        # A withdrawn notice awaiting approval takes no decision, and stays undelivered.
        pending = s.enqueue(make_notice(id="HYZB-2026-0009")).digest
        s.withdraw("HYZB-2026-0009", "项目取消")
        gone = refused(
            lambda: s.approve("HYZB-2026-0009", 1, STEPS[0], by="李科长", digest=pending)
        )
        assert "was withdrawn" in str(gone)
        assert s.approval_trails("HYZB-2026-0009")[1].decisions == ()

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
        waiting = s.enqueue(make_notice(id="HYZB-2026-0002")).digest
        refused_ = s.enqueue(make_notice(id="HYZB-2026-0003")).digest
        s.reject("HYZB-2026-0003", 1, STEPS[0], by="李科长", digest=refused_, reason="重复")
        s.approve("HYZB-2026-0002", 1, STEPS[0], by="李科长", digest=waiting)
        for step in STEPS:
            s.approve("HYZB-2026-0001", 1, step, by="李科长", digest=digest)
        assert s.drain(timeout=20)
        figures = s.disclosure(year)
        assert figures.approvals == 1
        assert figures.by_category["construction"]["original"] == 1  # only the published one
        assert figures.approval_to_publication_hours is not None
        assert figures.approval_to_publication_hours >= 0
        again = s.disclosure(year)
        assert again.to_csv() == figures.to_csv()
        assert again.to_docx() == figures.to_docx()
        assert s.disclosure(year - 1).approvals == 0  # approvals are recorded: a true zero


def test_the_api_takes_decisions_with_the_digest_seen_and_refuses_the_rest(
    config: Path, sink: HttpSink, make_notice: Callable[..., dict[str, Any]]
) -> None:
    import httpx

    from syndicate.tokens import Scope
    from tests.api_server import ApiServer

    with Syndicator.from_config(config) as s, ApiServer(s) as api:
        digest = s.enqueue(make_notice()).digest
        operator = {
            "Authorization": f"Bearer {s.tokens.create('oa-system', [Scope.operate]).secret}"
        }
        reader = {"Authorization": f"Bearer {s.tokens.create('board', [Scope.read]).secret}"}
        url = f"{api.url}/v1/notices/HYZB-2026-0001/approvals"
        body = {
            "version": 1,
            "step": STEPS[0],
            "decision": "approved",
            "by": "李科长",
            "digest": digest,
        }

        def post(headers: dict[str, str], **changes: Any) -> httpx.Response:
            return httpx.post(url, headers=headers, json={**body, **changes}, timeout=10)

        assert post(reader).status_code == 403
        listed = httpx.get(
            f"{api.url}/v1/notices", params={"state": "awaiting_approval"}, headers=reader
        ).json()["items"]
        assert [(n["id"], n["state"]) for n in listed] == [("HYZB-2026-0001", "awaiting_approval")]
        no_digest = httpx.post(
            url, headers=operator, json={k: v for k, v in body.items() if k != "digest"}
        )
        assert no_digest.status_code == 422
        assert [e["field"] for e in no_digest.json()["errors"]] == ["digest"]
        assert (
            post(operator, decision="rejected").status_code == 422
        )  # a rejection needs its reason
        other = post(operator, digest="0" * 64)
        assert other.status_code == 409
        assert other.headers["content-type"] == "application/problem+json"
        assert "the content the approver saw" in other.json()["errors"][0]["message"]
        assert post(operator, version=2).status_code == 404
        assert (
            httpx.post(
                url.replace("HYZB-2026-0001", "NONE"), headers=operator, json=body
            ).status_code
            == 404
        )
        assert s.approval_trails("HYZB-2026-0001")[1].decisions == ()

        first = post(operator, comment="同意")
        assert first.status_code == 201
        answer = first.json()
        assert answer["approval"]["by"] == "李科长"
        assert answer["approval"]["via"] == "oa-system"
        assert answer["trail"]["pending_step"] == STEPS[1]
        assert answer["channels"] == []
        assert post(operator).status_code == 409  # the same step twice
        last = post(operator, step=STEPS[1], by="王副主任")
        assert last.status_code == 201
        assert last.json()["channels"] == ["trading-website"]
        assert [d.state for d in s.store.deliveries()] == [DeliveryState.pending]

        detail = httpx.get(f"{api.url}/v1/notices/HYZB-2026-0001", headers=reader).json()
        trail = detail["versions"][0]["approval"]
        assert trail["state"] == "approved"
        assert [(d["step"], d["by"], d["digest"]) for d in trail["decisions"]] == [
            (STEPS[0], "李科长", digest),
            (STEPS[1], "王副主任", digest),
        ]
        assert [o.action for o in s.store.operations()] == ["approved", "approved"]
        paths = httpx.get(f"{api.url}/openapi.json", headers=reader).json()["paths"]
        assert "post" in paths["/v1/notices/{notice_id}/approvals"]


def test_the_dashboard_shows_the_trail_and_decides_the_pending_step_by_form(
    config: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    import httpx

    from syndicate.tokens import Scope
    from tests.api_server import ApiServer
    from tests.dashboard_site import csrf_of, sign_in, token

    with Syndicator.from_config(config) as s, ApiServer(s) as site:
        digest = s.enqueue(make_notice()).digest
        page_url = "/notices/HYZB-2026-0001"
        with httpx.Client(base_url=site.url) as reader:
            assert sign_in(reader, token(s, Scope.read, name="board")).status_code == 303
            page = reader.get(page_url).text
            assert "待审批" in page
            assert "科室负责人 → 分管领导" in page
            assert "approval-form" not in page  # a reader sees the trail, not the form
        with httpx.Client(base_url=site.url) as client:
            assert sign_in(client, token(s, Scope.read, Scope.operate)).status_code == 303
            page = client.get(page_url).text
            assert 'class="filters approval-form"' in page
            assert f'name="digest" value="{digest}"' in page
            form = {"csrf": csrf_of(page), "version": "1", "step": STEPS[0], "digest": digest}
            url = f"{page_url}/approvals"
            forged = client.post(
                url, data={**form, "csrf": "x", "decision": "approved", "by": "李"}
            )
            assert forged.status_code == 403
            stale = client.post(
                url, data={**form, "digest": "0" * 64, "decision": "approved", "by": "李"}
            )
            assert stale.status_code == 409
            assert "the content the approver saw" in stale.text
            assert s.approval_trails("HYZB-2026-0001")[1].decisions == ()
            done = client.post(
                url, data={**form, "decision": "approved", "by": "李科长", "comment": "同意"}
            )
            assert done.status_code == 303
            page = client.get(done.headers["location"]).text
            assert "已记录同意" in page
            assert "李科长" in page
            assert "同意" in page
            assert f'name="step" value="{STEPS[1]}"' in page
            english = client.get(f"{page_url}?lang=en").text
            assert "Awaiting" in english
            assert "approved" in english
            rejected = client.post(
                url, data={**form, "step": STEPS[1], "decision": "rejected", "by": "王副主任"}
            )
            assert rejected.status_code == 422  # a rejection needs its reason
        trail = s.approval_trails("HYZB-2026-0001")[1]
        assert [(d.step, d.via) for d in trail.decisions] == [(STEPS[0], "operator")]


def test_two_approvers_deciding_one_step_at_once_record_one_decision(store_url: str) -> None:
    import threading
    from dataclasses import replace

    from syndicate.store import open_store
    from tests.unit.test_store import record

    first = open_store(store_url)
    first.accept(replace(record("N-1"), approval_steps=tuple(STEPS)), ["a"], 100.0)
    stores = [first, open_store(store_url)]
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def decide(i: int) -> None:
        start.wait()
        try:
            stores[i].decide(
                "N-1", 1, STEPS[0], Decision.approved, approver=f"p{i}", digest="a" * 64, now=110.0
            )
            outcomes.append("recorded")
        except ApprovalRefused as exc:
            outcomes.append(exc.status)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(outcomes, key=str) == [409, "recorded"]
        assert len(first.approval_trails("N-1")[1].decisions) == 1
    finally:
        for s in stores:
            s.close()
