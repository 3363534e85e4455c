"""A circuit breaker per channel: stop hammering a channel that keeps failing.

After ``failures`` consecutive transient failures the circuit opens: no new
delivery to that channel is started for ``cool_down``. Then one probe is let
through (half-open); its success closes the circuit, its failure opens it
again. Permanent failures say nothing about the channel's health and do not
count; deliveries to other channels are never held back.

The state lives in the ledger (a ``CircuitRow`` per channel), so every worker
sharing the ledger sees the same circuit; these are its transitions, pure.
"""

from __future__ import annotations

from enum import StrEnum

from .store.base import CircuitRow, Gate


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


def admit(
    row: CircuitRow | None, want: int, now: float, probe_until: float, worker: str
) -> tuple[int, CircuitRow | None]:
    """How many deliveries may start now, and the row to write if this worker takes the probe."""
    if row is None or row.state == CircuitState.closed:
        return want, None
    if row.state == CircuitState.open and row.reopens_at is not None and now < row.reopens_at:
        return 0, None
    if (
        row.state == CircuitState.half_open
        and row.probe_until is not None
        and now < row.probe_until
    ):
        return 0, None  # another worker's probe is under way
    probing = CircuitRow(
        row.channel,
        CircuitState.half_open,
        row.failures,
        None,
        worker,
        now,
        probe_until,
        row.opened_at,
    )
    return min(want, 1), probing


def after_failure(
    row: CircuitRow | None, channel: str, gate: Gate, now: float, worker: str
) -> tuple[CircuitRow, bool]:
    """The circuit after a transient failure; True if this failure opened it."""
    failures = (row.failures if row is not None else 0) + 1
    state = row.state if row is not None else CircuitState.closed
    if state == CircuitState.open:
        # An attempt that started before the circuit opened: counted, nothing turns.
        assert row is not None
        return CircuitRow(
            channel, state, failures, row.reopens_at, worker, now, opened_at=row.opened_at
        ), False
    if state == CircuitState.half_open or failures >= gate.failures:
        # A failed probe reopens the same outage; from closed, a new one begins now.
        opened_at = row.opened_at if row is not None and state == CircuitState.half_open else None
        return CircuitRow(
            channel,
            CircuitState.open,
            failures,
            now + gate.cool_down,
            worker,
            now,
            opened_at=now if opened_at is None else opened_at,
        ), True
    return CircuitRow(channel, CircuitState.closed, failures, None, worker, now), False


def after_success(channel: str, now: float, worker: str) -> CircuitRow:
    """The circuit after a delivery: closed, nothing counted."""
    return CircuitRow(channel, CircuitState.closed, 0, None, worker, now)
