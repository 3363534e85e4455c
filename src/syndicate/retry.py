"""The retry schedule of a channel, built on tenacity's wait and stop strategies.

The worker does not sleep in tenacity's loop: each attempt is a row in the
ledger and the next attempt time is persisted, so a restarted worker keeps
the schedule. We only ask tenacity's strategies the two questions they
answer: must we stop, and how long do we wait.
"""

from __future__ import annotations

import time

from tenacity import RetryCallState, Retrying
from tenacity.stop import stop_after_attempt, stop_after_delay, stop_base
from tenacity.wait import wait_base, wait_exponential, wait_random

from .config import RetryPolicy


class Schedule:
    """A channel's retry policy as tenacity strategies."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.wait: wait_base = wait_exponential(
            multiplier=policy.initial_delay, exp_base=policy.multiplier, max=policy.max_delay
        )
        if policy.jitter > 0:
            self.wait = self.wait + wait_random(0, policy.jitter)
        self.stop: stop_base = stop_after_attempt(policy.max_attempts)
        if policy.deadline is not None:
            self.stop = self.stop | stop_after_delay(policy.deadline)
        self._retrying = Retrying(wait=self.wait, stop=self.stop)

    def _state(self, tries: int, elapsed: float) -> RetryCallState:
        state = RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = tries
        now = time.monotonic()
        state.start_time = now - elapsed
        state.outcome_timestamp = now
        return state

    def next_delay(
        self, tries: int, elapsed: float, retry_after: float | None = None
    ) -> float | None:
        """Seconds until the next attempt after ``tries`` attempts, or None to give up.

        ``elapsed`` is the time since the cycle's first attempt started;
        ``retry_after`` is the channel's own request, which is honoured.
        """
        state = self._state(tries, elapsed)
        if self.stop(state):
            return None
        delay = float(self.wait(state))
        if retry_after is not None:
            delay = max(delay, retry_after)
        if self.policy.deadline is not None and elapsed + delay > self.policy.deadline:
            return None
        return delay
