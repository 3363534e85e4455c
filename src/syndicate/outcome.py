"""What an attempt's result does to its delivery and its channel's circuit: one pure function.

Every worker, whatever store it writes to, decides the same way: a receipt
delivers; a permanent error fails the delivery at once; a transient error
schedules the next attempt on the channel's retry schedule, or ends the
delivery dead when the schedule gives up; an interruption (the worker
stopping) is nobody's fault and makes the delivery due again at once.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from .adapter import Receipt
from .errors import DeliveryError, PermanentDeliveryError
from .masking import Masker
from .retry import Schedule
from .store.base import AttemptRecord, Claim, DeliveryState, Next, Outcome

MAX_ERROR_CHARS = 2000


class CircuitEffect(StrEnum):
    """What the attempt says about the channel's health."""

    none = "none"  # a permanent error, an interruption or a Retry-After says nothing about it
    success = "success"
    failure = "failure"


class Decision(NamedTuple):
    record: AttemptRecord
    next: Next
    circuit: CircuitEffect

    @property
    def message(self) -> str:
        """One line for whoever watches: where it went, or why not."""
        r = self.record
        if r.outcome is Outcome.delivered:
            return r.remote_url or r.remote_id or "delivered"
        return r.error_message or ""


def decide(
    result: Receipt | BaseException,
    claim: Claim,
    schedule: Schedule,
    now: float,
    *,
    started: float,
    payload_sha256: str | None = None,
    interrupted: bool = False,
    mask: Masker | None = None,
) -> Decision:
    """The attempt record, the delivery's next state and the circuit effect of ``result``.

    ``now`` is when the attempt finished; ``started`` when it started. ``mask``
    hides secrets in what the channel said, before anything is cut to length.
    """
    mask = mask or Masker()
    if isinstance(result, Receipt):
        record = AttemptRecord(
            started,
            now,
            Outcome.delivered,
            status=mask.optional(result.status),
            remote_id=mask.optional(result.remote_id),
            remote_url=mask.optional(result.url),
            payload_sha256=payload_sha256,
        )
        return Decision(record, Next(DeliveryState.delivered), CircuitEffect.success)
    status = retry_after = None
    if isinstance(result, DeliveryError):
        status, retry_after = result.status, result.retry_after
    message = getattr(result, "message", None) or str(result) or type(result).__name__
    message = mask.mask(message)
    circuit = CircuitEffect.none
    if isinstance(result, PermanentDeliveryError):
        outcome, next_ = Outcome.permanent, Next(DeliveryState.failed)
    elif interrupted:
        outcome, next_ = Outcome.transient, Next(DeliveryState.pending, now)
    else:
        # A channel that answers "come back in N seconds" is up and pacing us: its
        # wait is honoured for this delivery, and it does not count as a dead peer
        # towards opening the circuit (nor as a success that closes it).
        outcome = Outcome.transient
        circuit = CircuitEffect.failure if retry_after is None else CircuitEffect.none
        first = claim.first_try_at if claim.first_try_at is not None else started
        delay = schedule.next_delay(claim.tries + 1, now - first, retry_after)
        next_ = (
            Next(DeliveryState.dead) if delay is None else Next(DeliveryState.pending, now + delay)
        )
    record = AttemptRecord(
        started,
        now,
        outcome,
        error_class=type(result).__name__,
        error_message=message[:MAX_ERROR_CHARS],
        status=mask.optional(status),
        payload_sha256=payload_sha256,
    )
    return Decision(record, next_, circuit)
