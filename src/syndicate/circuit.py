"""A circuit breaker per channel: stop hammering a channel that keeps failing.

After ``failures`` consecutive transient failures the circuit opens: no new
delivery to that channel is started for ``cool_down``. Then one probe is let
through (half-open); its success closes the circuit, its failure opens it
again. Permanent failures say nothing about the channel's health and do not
count; deliveries to other channels are never held back.
"""

from __future__ import annotations

from enum import StrEnum


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class CircuitBreaker:
    """The health of one channel as the worker sees it."""

    def __init__(self, failures: int, cool_down: float) -> None:
        self.threshold = failures
        self.cool_down = cool_down
        self.state = CircuitState.closed
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    def allowance(self, now: float, free: int) -> int:
        """How many deliveries may start now, given ``free`` slots."""
        if self.state is CircuitState.closed:
            return free
        if self.state is CircuitState.open and now - self.opened_at >= self.cool_down:
            self.state = CircuitState.half_open
        if self.state is CircuitState.half_open and not self._probing and free > 0:
            self._probing = True
            return 1
        return 0

    def probe_unused(self) -> None:
        """The probe found nothing to deliver; the next due delivery may probe."""
        self._probing = False

    def success(self) -> bool:
        """Record a delivered attempt; True if this closed the circuit."""
        changed = self.state is not CircuitState.closed
        self.state = CircuitState.closed
        self.failures = 0
        self._probing = False
        return changed

    def failure(self, now: float) -> bool:
        """Record a transient failure; True if this opened the circuit."""
        self.failures += 1
        if self.state is CircuitState.open:
            return False  # an attempt started before the circuit opened
        if self.state is CircuitState.half_open or self.failures >= self.threshold:
            self.state = CircuitState.open
            self.opened_at = now
            self._probing = False
            return True
        return False

    def apply(self, effect: str, now: float) -> bool:
        """Record an attempt's effect (``success``, ``failure`` or ``none``); True if it turned."""
        if effect == "success":
            return self.success()
        if effect == "failure":
            return self.failure(now)
        # The probe told nothing about the channel's health: the next due delivery probes.
        self.probe_unused()
        return False

    def reopens_at(self) -> float | None:
        return self.opened_at + self.cool_down if self.state is CircuitState.open else None
