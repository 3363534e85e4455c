"""Failed and dead deliveries, grouped the way an operator replays them: channel and error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..store.base import DeliveryState, FailureGroupRow, Store
from .common import iso
from .status import CircuitView


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


@dataclass(frozen=True)
class ChannelSwitch:
    """A configured channel as the pause and resume buttons need it: cheap at any ledger size."""

    name: str
    paused_at: float | None
    paused_by: str | None
    circuit: CircuitView

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "paused": self.paused,
            "paused_at": iso(self.paused_at),
            "paused_by": self.paused_by,
            "circuit": self.circuit.as_dict(),
        }


def channel_switches(store: Store, configured: Sequence[str]) -> tuple[ChannelSwitch, ...]:
    paused = store.paused()
    circuits = store.circuits()
    return tuple(
        ChannelSwitch(
            name,
            paused[name].paused_at if name in paused else None,
            paused[name].paused_by if name in paused else None,
            CircuitView.of(name, circuits.get(name)),
        )
        for name in configured
    )
