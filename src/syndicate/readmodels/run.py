"""What a worker run came to: deliveries by the state they were left in, and attempts made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..store.base import DeliveryState

if TYPE_CHECKING:
    from ..dispatcher import AttemptEvent


@dataclass(frozen=True)
class RunSummary:
    """Each delivery counted once, in the state its last attempt of the run left it."""

    deliveries: Mapping[DeliveryState, int]
    attempts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "deliveries": {st.value: n for st, n in self.deliveries.items()},
            "attempts": self.attempts,
        }

    def __str__(self) -> str:
        if not self.attempts:
            return "nothing was due"
        states = ", ".join(
            f"{self.deliveries[st]} {st.value.replace('_', ' ')}"
            for st in DeliveryState
            if self.deliveries.get(st)
        )
        n = sum(self.deliveries.values())
        return (
            f"{n} {'delivery' if n == 1 else 'deliveries'}: {states} "
            f"({self.attempts} {'attempt' if self.attempts == 1 else 'attempts'})"
        )


class RunTally:
    """A worker listener that keeps the last state of every delivery it saw."""

    def __init__(self) -> None:
        self._last: dict[int, DeliveryState] = {}
        self._attempts = 0

    def __call__(self, event: AttemptEvent) -> None:
        self._attempts += 1
        self._last[event.claim.delivery_id] = event.state

    def summary(self) -> RunSummary:
        by_state: dict[DeliveryState, int] = {}
        for state in self._last.values():
            by_state[state] = by_state.get(state, 0) + 1
        return RunSummary(by_state, self._attempts)
