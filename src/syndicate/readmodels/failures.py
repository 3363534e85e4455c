"""Failed and dead deliveries, grouped the way an operator replays them: channel and error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..store.base import DeliveryState, FailureGroupRow, Store
from .common import iso


@dataclass(frozen=True)
class FailureGroup:
    """Deliveries of one channel left ``state`` by the same error class, and the latest message."""

    channel: str
    state: DeliveryState
    error_class: str
    deliveries: int
    latest_at: float
    latest_error: str | None

    @classmethod
    def from_row(cls, r: FailureGroupRow) -> FailureGroup:
        return cls(r.channel, r.state, r.error_class, r.deliveries, r.latest_at, r.latest_error)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "state": self.state.value,
            "error_class": self.error_class,
            "deliveries": self.deliveries,
            "latest_at": iso(self.latest_at),
            "latest_error": self.latest_error,
        }


@dataclass(frozen=True)
class Failures:
    groups: tuple[FailureGroup, ...]

    @property
    def total(self) -> int:
        return sum(g.deliveries for g in self.groups)

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "groups": [g.as_dict() for g in self.groups]}


def failures(store: Store) -> Failures:
    return Failures(tuple(FailureGroup.from_row(r) for r in store.failure_groups()))
