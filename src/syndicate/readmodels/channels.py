"""Channel health: is each channel taking deliveries, how far behind is it, what went wrong last."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..store.base import DeliveryState, Outcome, Store
from .common import iso
from .status import CircuitView

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True)
class LastError:
    """A channel's most recent attempt that did not deliver."""

    at: float
    notice_id: str
    version: int
    outcome: Outcome
    error_class: str | None
    message: str | None
    status: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "notice": self.notice_id,
            "version": self.version,
            "outcome": self.outcome.value,
            "error_class": self.error_class,
            "message": self.message,
            "status": self.status,
        }


@dataclass(frozen=True)
class SuccessRate:
    """Attempts started in a window and the share of them that delivered (None: no attempts)."""

    attempts: int
    delivered: int

    @property
    def rate(self) -> float | None:
        return self.delivered / self.attempts if self.attempts else None

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "attempts": self.attempts,
            "delivered": self.delivered,
            "rate": None if rate is None else round(rate, 4),
        }


@dataclass(frozen=True)
class ChannelStatus:
    """One channel: configured how, paused or not, its circuit, backlog and recent record."""

    name: str
    adapter: str | None  # None: the ledger knows it, channels.yaml no longer does
    description: str
    enabled: bool
    paused_at: float | None
    paused_by: str | None
    circuit: CircuitView
    deliveries: Mapping[DeliveryState, int]
    backlog: int  # pending or in flight
    oldest_pending_age: float | None  # seconds the oldest due, unfinished delivery has waited
    last_hour: SuccessRate
    last_day: SuccessRate
    last_error: LastError | None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": self.adapter,
            "description": self.description,
            "enabled": self.enabled,
            "paused": self.paused,
            "paused_at": iso(self.paused_at),
            "paused_by": self.paused_by,
            "circuit": self.circuit.as_dict(),
            "deliveries": {st.value: self.deliveries.get(st, 0) for st in DeliveryState},
            "backlog": self.backlog,
            "oldest_pending_age_seconds": (
                None if self.oldest_pending_age is None else round(self.oldest_pending_age, 3)
            ),
            "success_1h": self.last_hour.as_dict(),
            "success_24h": self.last_day.as_dict(),
            "last_error": self.last_error.as_dict() if self.last_error else None,
        }


@dataclass(frozen=True)
class ChannelHealth:
    """Every channel's health at ``at``, in the order of channels.yaml."""

    at: float
    channels: tuple[ChannelStatus, ...]

    def get(self, name: str) -> ChannelStatus | None:
        return next((c for c in self.channels if c.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "channels": [c.as_dict() for c in self.channels]}


def channel_health(store: Store, config: Config, now: float) -> ChannelHealth:
    counts: dict[str, dict[DeliveryState, int]] = {}
    for (ch, st), n in store.counts().items():
        counts.setdefault(ch, {})[st] = n
    names = list(config.channels) + sorted(set(counts) - set(config.channels))
    backlog = store.backlog(now)
    hour = store.attempt_outcomes(now - HOUR)
    day = store.attempt_outcomes(now - DAY)
    circuits = store.circuits()
    paused = store.paused()
    failures = store.last_failures()
    result = []
    for name in names:
        channel = config.channels.get(name)
        b = backlog.get(name)
        oldest = b.oldest_due_at if b is not None else None
        failure = failures.get(name)
        pause = paused.get(name)
        result.append(
            ChannelStatus(
                name=name,
                adapter=channel.settings.adapter if channel else None,
                description=(channel.settings.description or "") if channel else "",
                enabled=channel.settings.enabled if channel else False,
                paused_at=pause.paused_at if pause else None,
                paused_by=pause.paused_by if pause else None,
                circuit=CircuitView.of(name, circuits.get(name)),
                deliveries=counts.get(name, {}),
                backlog=b.pending if b is not None else 0,
                oldest_pending_age=None if oldest is None else max(0.0, now - oldest),
                last_hour=_rate(hour, name),
                last_day=_rate(day, name),
                last_error=None
                if failure is None
                else LastError(
                    failure.started_at,
                    failure.notice_id,
                    failure.notice_version,
                    failure.outcome,
                    failure.error_class,
                    failure.error_message,
                    failure.status,
                ),
            )
        )
    return ChannelHealth(now, tuple(result))


def _rate(outcomes: Mapping[tuple[str, Outcome], int], channel: str) -> SuccessRate:
    total = sum(n for (ch, _), n in outcomes.items() if ch == channel)
    return SuccessRate(total, outcomes.get((channel, Outcome.delivered), 0))
