"""The overview: every channel's health, today's figures, and what needs an operator now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..notice import LOCAL_TZ
from ..store.base import DeliveryState, Outcome, Store
from .channels import ChannelHealth, ChannelStatus
from .common import iso

# A due delivery waiting longer than this is an incident: the channel is not keeping up.
STALE_AFTER = 15 * 60.0


@dataclass(frozen=True)
class Today:
    """Since midnight in Asia/Shanghai: notices accepted, deliveries made, attempts that failed."""

    since: float
    notices: int
    delivered: int
    failed_attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": iso(self.since),
            "notices": self.notices,
            "delivered": self.delivered,
            "failed_attempts": self.failed_attempts,
        }


@dataclass(frozen=True)
class Incident:
    """Something on one channel an operator should look at: ``kind`` says what."""

    channel: str
    kind: str  # circuit_open | paused | dead | failed | stale
    count: int | None = None  # deliveries concerned, where that is the measure
    since: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind,
            "count": self.count,
            "since": iso(self.since),
        }


@dataclass(frozen=True)
class Overview:
    health: ChannelHealth
    today: Today
    incidents: tuple[Incident, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.health.as_dict(),
            "today": self.today.as_dict(),
            "incidents": [i.as_dict() for i in self.incidents],
        }


def local_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, LOCAL_TZ)
    return day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def incidents_of(channel: ChannelStatus) -> list[Incident]:
    found = []
    if channel.circuit.state == "open":
        found.append(Incident(channel.name, "circuit_open", since=channel.circuit.updated_at))
    if channel.paused:
        found.append(Incident(channel.name, "paused", since=channel.paused_at))
    for state in (DeliveryState.dead, DeliveryState.failed):
        if channel.deliveries.get(state):
            found.append(Incident(channel.name, state.value, count=channel.deliveries[state]))
    age = channel.oldest_pending_age
    if age is not None and age > STALE_AFTER:
        found.append(Incident(channel.name, "stale", count=channel.backlog))
    return found


def overview(store: Store, health: ChannelHealth) -> Overview:
    midnight = local_midnight(health.at)
    outcomes = store.attempt_outcomes(midnight)
    today = Today(
        midnight,
        store.accepted_since(midnight),
        sum(n for (_, o), n in outcomes.items() if o is Outcome.delivered),
        sum(n for (_, o), n in outcomes.items() if o is not Outcome.delivered),
    )
    incidents = tuple(i for ch in health.channels for i in incidents_of(ch))
    return Overview(health, today, incidents)
