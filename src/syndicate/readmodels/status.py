"""The notice × channel matrix: the latest notices down, channels across, and the counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..store.base import CircuitRow, DeliveryState, NoticeFilter, Purpose, Store
from .common import NoticeRef, iso


@dataclass(frozen=True)
class MatrixCell:
    """One delivery as the matrix shows it."""

    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    remote_id: str | None
    remote_url: str | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "remote_id": self.remote_id,
            "remote_url": self.remote_url,
            "last_error": self.last_error,
        }


@dataclass(frozen=True)
class MatrixRow:
    """A notice version and its delivery on each channel it was routed to."""

    id: str
    version: int
    title: str
    category: str
    cells: Mapping[str, MatrixCell]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "category": self.category,
            "channels": {ch: c.as_dict() for ch, c in self.cells.items()},
        }


@dataclass(frozen=True)
class CircuitView:
    """A channel's circuit breaker as a worker last recorded it."""

    channel: str
    state: str  # closed | open | half_open
    failures: int
    reopens_at: float | None
    updated_at: float | None

    @classmethod
    def of(cls, channel: str, row: CircuitRow | None) -> CircuitView:
        if row is None:
            return cls(channel, "closed", 0, None, None)
        return cls(channel, row.state, row.failures, row.reopens_at, row.updated_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "failures": self.failures,
            "reopens_at": iso(self.reopens_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class Awaiting:
    """A notice version that waits for an approval step, and since when."""

    id: str
    version: int
    title: str
    digest: str
    step: str  # the step whose decision is awaited
    steps: tuple[str, ...]
    since: float  # accepted, or the step before approved

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "digest": self.digest,
            "step": self.step,
            "steps": list(self.steps),
            "since": iso(self.since),
        }


@dataclass(frozen=True)
class StatusMatrix:
    """The most recent notices (oldest of them first) × channels, counts and open circuits."""

    channels: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    more: bool  # older notices match but are not shown
    counts: Mapping[str, Mapping[DeliveryState, int]]
    circuits: tuple[CircuitView, ...]
    awaiting: tuple[Awaiting, ...] = ()  # notice versions waiting for approval, oldest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "awaiting_approval": [a.as_dict() for a in self.awaiting],
            "channels": list(self.channels),
            "notices": [r.as_dict() for r in self.rows],
            "more": self.more,
            "counts": {
                ch: {st.value: n for st, n in by_state.items()}
                for ch, by_state in self.counts.items()
            },
            "circuits": {c.channel: c.as_dict() for c in self.circuits},
        }


def status_matrix(
    store: Store,
    configured: Sequence[str],
    *,
    notice: NoticeRef | None = None,
    channel: str | None = None,
    limit: int = 50,
) -> StatusMatrix:
    flt = NoticeFilter(
        notice_id=notice.id if notice else None,
        notice_version=notice.version if notice else None,
        channel=channel,
    )
    found = store.notice_page(flt, None, limit + 1)
    more = len(found) > limit
    rows = []
    for n in reversed(found[:limit]):
        cells = {
            d.channel: MatrixCell(
                d.state, d.attempts, d.next_attempt_at, d.remote_id, d.remote_url, d.last_error
            )
            for d in store.deliveries(notice_id=n.id, channel=channel)
            # a cell is the version's publication; its withdrawal or expiry is in the detail
            if d.notice_version == n.version and d.purpose is Purpose.publish
        }
        rows.append(MatrixRow(n.id, n.version, n.title, n.category, cells))
    counts: dict[str, dict[DeliveryState, int]] = {}
    for (ch, st), k in store.counts().items():
        counts.setdefault(ch, {})[st] = k
    channels = [c for c in configured if channel in (None, c)]
    if channel is None:
        channels += sorted(set(counts) - set(channels))
    elif channel not in channels and channel in counts:
        channels.append(channel)
    circuits = store.circuits()
    awaiting = tuple(
        Awaiting(a.notice_id, a.version, a.title, a.digest, a.step, a.steps, a.since)
        for a in store.awaiting_approvals(limit)
        if notice is None or (a.notice_id == notice.id and notice.version in (None, a.version))
    )
    return StatusMatrix(
        tuple(channels),
        tuple(rows),
        more,
        {ch: counts.get(ch, {}) for ch in channels},
        tuple(CircuitView.of(ch, circuits.get(ch)) for ch in channels),
        awaiting,
    )
