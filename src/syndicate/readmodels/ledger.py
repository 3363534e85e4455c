"""The ledger as lists: notices, deliveries and attempts, filtered, newest first, in pages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..approval import ApprovalState, Trail
from ..labels import category_label, type_label
from ..store.base import (
    AttemptFilter,
    AttemptRow,
    DeliveryFilter,
    DeliveryRow,
    DeliveryState,
    NoticeFilter,
    NoticeRecord,
    NoticeRow,
    NoticeState,
    Outcome,
    Purpose,
    Store,
    Withdrawal,
)
from .common import Page, iso, paginate


@dataclass(frozen=True)
class NoticeSummary:
    """One notice version and how its deliveries stand."""

    id: str
    version: int
    category: str
    notice_type: str
    region_code: str
    title: str
    project_code: str | None
    digest: str
    accepted_at: float
    publish_at: float
    state: NoticeState
    delivered: int
    unfinished: int
    ended_badly: int

    @classmethod
    def from_row(cls, r: NoticeRow) -> NoticeSummary:
        return cls(
            r.id,
            r.version,
            r.category,
            r.notice_type,
            r.region_code,
            r.title,
            r.project_code,
            r.digest,
            r.accepted_at,
            r.publish_at,
            r.state,
            r.delivered,
            r.unfinished,
            r.ended_badly,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "category": self.category,
            "category_label": category_label(self.category),
            "notice_type": self.notice_type,
            "notice_type_label": type_label(self.notice_type),
            "region_code": self.region_code,
            "title": self.title,
            "project_code": self.project_code,
            "digest": self.digest,
            "accepted_at": iso(self.accepted_at),
            "publish_at": iso(self.publish_at),
            "state": self.state.value,
            "deliveries": {
                "delivered": self.delivered,
                "unfinished": self.unfinished,
                "failed_or_dead": self.ended_badly,
            },
        }


@dataclass(frozen=True)
class DeliveryEntry:
    """One notice version to one channel: where it stands and what the channel answered."""

    id: int
    notice_id: str
    version: int
    channel: str
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    idempotency_key: str
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    updated_at: float
    title: str
    category: str
    purpose: Purpose = Purpose.publish

    @classmethod
    def from_row(cls, r: DeliveryRow) -> DeliveryEntry:
        return cls(
            r.id,
            r.notice_id,
            r.notice_version,
            r.channel,
            r.state,
            r.attempts,
            r.next_attempt_at,
            r.idempotency_key,
            r.remote_id,
            r.remote_url,
            r.last_error,
            r.updated_at,
            r.title,
            r.category,
            r.purpose,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "notice": self.notice_id,
            "version": self.version,
            "channel": self.channel,
            "purpose": self.purpose.value,
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "idempotency_key": self.idempotency_key,
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "last_error": self.last_error,
            "updated_at": iso(self.updated_at),
            "title": self.title,
            "category": self.category,
        }


@dataclass(frozen=True)
class AttemptEntry:
    """One try of a delivery: when, by whom, the outcome, the channel's answer, the digest."""

    id: int
    delivery_id: int
    notice_id: str
    version: int
    channel: str
    number: int
    worker: str | None
    started_at: float
    finished_at: float
    outcome: Outcome
    error_class: str | None
    error_message: str | None
    status: str | None
    remote_id: str | None
    remote_url: str | None
    payload_sha256: str | None

    @classmethod
    def from_row(cls, r: AttemptRow) -> AttemptEntry:
        return cls(
            r.id,
            r.delivery_id,
            r.notice_id,
            r.notice_version,
            r.channel,
            r.number,
            r.worker,
            r.started_at,
            r.finished_at,
            r.outcome,
            r.error_class,
            r.error_message,
            r.status,
            r.remote_id,
            r.remote_url,
            r.payload_sha256,
        )

    @property
    def detail(self) -> str:
        """Where it landed, or why not."""
        if self.outcome is Outcome.delivered:
            # Both the URL and the channel's id, to trace either.
            if self.remote_url and self.remote_id:
                return f"{self.remote_url} (id {self.remote_id})"
            return self.remote_url or self.remote_id or ""
        return f"{self.error_class}: {self.error_message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.id,
            "delivery": self.delivery_id,
            "notice": self.notice_id,
            "version": self.version,
            "channel": self.channel,
            "number": self.number,
            "worker": self.worker,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "outcome": self.outcome.value,
            "error_class": self.error_class,
            "error_message": self.error_message,
            "status": self.status,
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "payload_sha256": self.payload_sha256,
        }


# The keys of AttemptEntry.as_dict, in order: the columns of a CSV export.
ATTEMPT_FIELDS = [
    "attempt",
    "delivery",
    "notice",
    "version",
    "channel",
    "number",
    "worker",
    "started_at",
    "finished_at",
    "outcome",
    "error_class",
    "error_message",
    "status",
    "remote_id",
    "remote_url",
    "payload_sha256",
]


def notice_list(
    store: Store, filter: NoticeFilter, cursor: str | None, limit: int | None
) -> Page[NoticeSummary]:
    return paginate(
        "notices",
        lambda before, n: store.notice_page(filter, before, n),
        lambda r: r.pk,
        NoticeSummary.from_row,
        cursor,
        limit,
    )


def delivery_list(
    store: Store, filter: DeliveryFilter, cursor: str | None, limit: int | None
) -> Page[DeliveryEntry]:
    return paginate(
        "deliveries",
        lambda before, n: store.delivery_page(filter, before, n),
        lambda r: r.id,
        DeliveryEntry.from_row,
        cursor,
        limit,
    )


def attempt_list(
    store: Store, filter: AttemptFilter, cursor: str | None, limit: int | None
) -> Page[AttemptEntry]:
    def fetch(before: int | None, n: int) -> list[AttemptRow]:
        flt = AttemptFilter(
            notice_id=filter.notice_id,
            notice_version=filter.notice_version,
            channel=filter.channel,
            outcome=filter.outcome,
            error_class=filter.error_class,
            since=filter.since,
            until=filter.until,
            limit=n,
            newest_first=True,
            before_id=before,
        )
        return list(store.attempts(flt))

    return paginate("attempts", fetch, lambda r: r.id, AttemptEntry.from_row, cursor, limit)


@dataclass(frozen=True)
class DeliveryDetail:
    """A delivery of one version with every attempt, oldest first."""

    delivery: DeliveryEntry
    attempts: tuple[AttemptEntry, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.delivery.as_dict(), "attempt_log": [a.as_dict() for a in self.attempts]}


@dataclass(frozen=True)
class NoticeVersion:
    """One version of a notice as stored, with each channel's delivery."""

    version: int
    category: str
    notice_type: str
    region_code: str
    title: str
    digest: str
    accepted_at: float
    publish_at: float
    deliveries: tuple[DeliveryDetail, ...]
    warnings: tuple[str, ...] = ()  # statutory rules in warn mode it broke when accepted
    approval: Trail | None = None  # its approval steps and decisions; None: none needed
    withdrawn: bool = False  # the notice was withdrawn

    @property
    def state(self) -> NoticeState:
        """From the version's approvals, then its publications (a withdrawal or an expiry is
        not one)."""
        if self.withdrawn:
            return NoticeState.withdrawn
        if self.approval is not None and self.approval.state is not ApprovalState.approved:
            return NoticeState(self.approval.state.value)
        states = [
            d.delivery.state for d in self.deliveries if d.delivery.purpose is Purpose.publish
        ]
        if any(not s.terminal for s in states):
            return NoticeState.publishing
        if any(s.set_aside for s in states) and not any(
            s is DeliveryState.delivered for s in states
        ):
            return NoticeState.superseded
        if all(s is DeliveryState.delivered or s.set_aside for s in states):
            return NoticeState.published
        return NoticeState.partly_published

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "category": self.category,
            "category_label": category_label(self.category),
            "notice_type": self.notice_type,
            "notice_type_label": type_label(self.notice_type),
            "region_code": self.region_code,
            "title": self.title,
            "digest": self.digest,
            "accepted_at": iso(self.accepted_at),
            "publish_at": iso(self.publish_at),
            "state": self.state.value,
            "deliveries": [d.as_dict() for d in self.deliveries],
            "warnings": list(self.warnings),
            "approval": None if self.approval is None else self.approval.as_dict(),
        }


@dataclass(frozen=True)
class NoticeDetail:
    """Everything the ledger holds about a notice: every version, delivery and attempt."""

    id: str
    versions: tuple[NoticeVersion, ...]
    withdrawal: Withdrawal | None = None

    def as_dict(self) -> dict[str, Any]:
        w = self.withdrawal
        withdrawn = None
        if w is not None:
            withdrawn = {"version": w.version, "reason": w.reason, "at": iso(w.at), "by": w.by}
        return {
            "id": self.id,
            "versions": [v.as_dict() for v in self.versions],
            "withdrawal": withdrawn,
        }


def notice_detail(store: Store, notice_id: str) -> NoticeDetail | None:
    records = store.notice_versions(notice_id)
    if not records:
        return None
    deliveries = store.deliveries(notice_id=notice_id)
    withdrawal = store.withdrawal(notice_id)
    attempts: dict[int, list[AttemptEntry]] = {}
    for a in store.attempts(AttemptFilter(notice_id=notice_id)):
        attempts.setdefault(a.delivery_id, []).append(AttemptEntry.from_row(a))
    trails = store.approval_trails(notice_id)
    versions = []
    for r in records:
        stored = store.notice(r.id, r.version)
        warnings = tuple(m for _, m in stored.warnings) if stored is not None else ()
        version = _version(r, deliveries, attempts)
        versions.append(
            replace(
                version,
                warnings=warnings,
                approval=trails.get(r.version),
                withdrawn=withdrawal is not None,
            )
        )
    return NoticeDetail(notice_id, tuple(versions), withdrawal)


def _version(
    r: NoticeRecord, deliveries: list[DeliveryRow], attempts: dict[int, list[AttemptEntry]]
) -> NoticeVersion:
    mine = [d for d in deliveries if d.notice_version == r.version]
    return NoticeVersion(
        r.version,
        r.category,
        r.notice_type,
        r.region_code,
        r.title,
        r.digest,
        r.accepted_at,
        r.publish_at,
        tuple(
            DeliveryDetail(DeliveryEntry.from_row(d), tuple(attempts.get(d.id, []))) for d in mine
        ),
    )
