"""The consistency report: did every channel receive content derived from the same canonical notice?

For one notice version: its canonical digest (checked against the stored
content), its approvals, and per channel the delivery's state, the SHA-256
of the payload it received, the receipt, and the key facts found — or not —
in that channel's rendering. A fact the canonical notice states and a
channel's rendering lacks (or states otherwise) is flagged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..adapter import Adapter, DeliveryContext
from ..approval import Trail
from ..errors import DeliveryError
from ..notice import Notice
from ..sanitize import sanitized_notice
from ..store.base import (
    AttemptFilter,
    AttemptRow,
    DeliveryRow,
    NoticeRecord,
    Outcome,
    Purpose,
    Store,
)
from .facts import Fact, Rendering, canonical_facts, payload_text


@dataclass(frozen=True)
class FactCheck:
    name: str
    label: str
    expected: str
    found: bool | None  # None: this kind of channel does not carry the fact (a summary screen)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass(frozen=True)
class ChannelAudit:
    """One channel's delivery of the notice, and what its rendering says."""

    channel: str
    adapter: str | None
    state: str
    version: int
    attempts: int
    payload_sha256: str | None  # of the payload the delivering (or last) attempt sent
    rendered_sha256: str | None  # of the same rendering made now
    remote_id: str | None
    remote_url: str | None
    facts: list[FactCheck] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "adapter": self.adapter,
            "state": self.state,
            "version": self.version,
            "attempts": self.attempts,
            "payload_sha256": self.payload_sha256,
            "rendered_sha256": self.rendered_sha256,
            "receipt": {"remote_id": self.remote_id, "remote_url": self.remote_url},
            "facts": [f.as_dict() for f in self.facts],
            "differences": self.differences,
            "notes": self.notes,
            "consistent": self.consistent,
        }


@dataclass(frozen=True)
class NoticeAudit:
    """``syndicate audit NOTICE``: the canonical notice and every channel held against it."""

    notice_id: str
    version: int
    title: str
    digest: str
    digest_matches: bool  # the stored content still hashes to the digest it was accepted with
    approvals: list[dict[str, Any]]
    facts: list[Fact]
    channels: list[ChannelAudit]
    approval: Trail | None = None  # the steps and decisions; None: it needed no approval

    @property
    def approvals_match(self) -> bool:
        """Every decision names the digest of this version (I7: nothing unapproved goes out)."""
        return self.approval is None or all(
            d.digest == self.digest for d in self.approval.decisions
        )

    @property
    def consistent(self) -> bool:
        return (
            self.digest_matches
            and self.approvals_match
            and all(c.consistent for c in self.channels)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "notice": self.notice_id,
            "version": self.version,
            "title": self.title,
            "digest": self.digest,
            "digest_matches": self.digest_matches,
            "approvals": self.approvals,
            "approval": None if self.approval is None else self.approval.as_dict(),
            "approvals_match": self.approvals_match,
            "facts": [f.as_dict() for f in self.facts],
            "channels": [c.as_dict() for c in self.channels],
            "consistent": self.consistent,
        }


def sent_attempt(attempts: list[AttemptRow]) -> AttemptRow | None:
    """The attempt whose payload the channel holds: the delivering one, else the last."""
    delivered = [a for a in attempts if a.outcome is Outcome.delivered]
    if delivered:
        return delivered[-1]
    return attempts[-1] if attempts else None


def delivery_context(
    store: Store, notice: Notice, digest: str, delivery: DeliveryRow, sent: AttemptRow | None
) -> DeliveryContext:
    """The context the delivery was rendered in, so rendering again gives what was sent."""
    previous = None
    if notice.version > 1:
        previous = store.earlier_delivery(notice.id, notice.version, delivery.channel)
    return DeliveryContext(
        channel=delivery.channel,
        idempotency_key=delivery.idempotency_key,
        delivery_id=delivery.id,
        attempt=sent.number if sent is not None else 1,
        notice_digest=digest,
        previous=previous,
    )


def _channel(
    store: Store,
    notice: Notice,
    record: NoticeRecord,
    delivery: DeliveryRow,
    attempts: list[AttemptRow],
    adapter: Adapter[Any] | None,
    facts: list[Fact],
) -> ChannelAudit:
    sent = sent_attempt(attempts)
    differences: list[str] = []
    notes: list[str] = []
    checks: list[FactCheck] = []
    rendered_sha: str | None = None
    if adapter is None:
        notes.append("the channel is no longer configured: its rendering cannot be made again")
    else:
        ctx = delivery_context(store, notice, record.digest, delivery, sent)
        try:
            payload = adapter.render(notice, ctx)
        except DeliveryError as exc:
            differences.append(f"the notice cannot be rendered for this channel: {exc.message}")
        else:
            rendered_sha = payload.digest()
            rendering = Rendering(payload_text(payload))
            carried = adapter.facts_carried
            for fact in facts:
                found = rendering.carries(fact) if carried is None or fact.name in carried else None
                checks.append(FactCheck(fact.name, fact.label, fact.value, found))
                if found is False:
                    differences.append(f"{fact.label} ({fact.name}) {fact.value!r} not found")
            if sent is not None and sent.payload_sha256 and sent.payload_sha256 != rendered_sha:
                notes.append(
                    "the payload rendered now differs from the one sent (the channel's "
                    "configuration or template changed since): the facts are those of today's "
                    "rendering"
                )
    return ChannelAudit(
        channel=delivery.channel,
        adapter=adapter.kind if adapter is not None else None,
        state=delivery.state.value,
        version=delivery.notice_version,
        attempts=delivery.attempts,
        payload_sha256=sent.payload_sha256 if sent is not None else None,
        rendered_sha256=rendered_sha,
        remote_id=delivery.remote_id,
        remote_url=delivery.remote_url,
        facts=checks,
        differences=differences,
        notes=notes,
    )


def audit_notice(
    store: Store,
    adapter_of: Callable[[str], Adapter[Any] | None],
    record: NoticeRecord,
    approval: Trail | None = None,
) -> NoticeAudit:
    """The consistency report of one stored notice version."""
    notice = Notice.parse(record.content)
    # Rendered again from what the channels were given: the body as the worker sanitised it.
    sent_as, _ = sanitized_notice(notice)
    digest_matches = hashlib.sha256(record.content.encode("utf-8")).hexdigest() == record.digest
    facts = canonical_facts(notice)
    deliveries = [
        d
        for d in store.deliveries(notice_id=record.id)
        if d.notice_version == record.version and d.purpose is Purpose.publish
    ]
    by_delivery: dict[int, list[AttemptRow]] = {}
    for a in store.attempts(AttemptFilter(notice_id=record.id)):
        by_delivery.setdefault(a.delivery_id, []).append(a)
    channels = [
        _channel(
            store,
            sent_as,
            record,
            d,
            by_delivery.get(d.id, []),
            adapter_of(d.channel),
            facts,
        )
        for d in deliveries
    ]
    return NoticeAudit(
        notice_id=record.id,
        version=record.version,
        title=record.title,
        digest=record.digest,
        digest_matches=digest_matches,
        approvals=[d.as_dict() for d in approval.decisions] if approval is not None else [],
        facts=facts,
        channels=channels,
        approval=approval,
    )
