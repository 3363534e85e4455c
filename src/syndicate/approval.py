"""Approval bound to content: the steps a notice version passes before any channel receives it.

A notice whose category or type needs approval (``approvals:`` in
channels.yaml) is stored with its steps, in order, and no delivery. Each
decision names the step, the approver and the canonical digest the approver
saw; one that names another digest, skips a step, repeats one or comes after
a rejection is refused and changes nothing. When the last step is approved,
the version's deliveries are created — nothing is sent before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ApprovalRefused, Problem
from .isotime import iso


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class ApprovalState(StrEnum):
    awaiting = "awaiting_approval"
    approved = "approved"
    rejected = "rejected"


@dataclass(frozen=True)
class Approval:
    """One recorded decision on one step of a notice version."""

    id: int
    position: int  # the step's place in the order, from 0
    step: str
    decision: Decision
    approver: str
    digest: str  # the canonical digest the approver saw (always the version's own)
    comment: str | None
    via: str | None  # the API token that relayed it; None from the command line
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "position": self.position,
            "step": self.step,
            "decision": self.decision.value,
            "by": self.approver,
            "digest": self.digest,
            "comment": self.comment,
            "via": self.via,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class Trail:
    """A notice version's approval: the steps it needs and the decisions made so far."""

    steps: tuple[str, ...]
    decisions: tuple[Approval, ...]

    @property
    def state(self) -> ApprovalState:
        if any(d.decision is Decision.rejected for d in self.decisions):
            return ApprovalState.rejected
        if len(self.decisions) >= len(self.steps):
            return ApprovalState.approved
        return ApprovalState.awaiting

    @property
    def pending_step(self) -> str | None:
        """The step whose decision is awaited now; None once approved or rejected."""
        if self.state is not ApprovalState.awaiting:
            return None
        return self.steps[len(self.decisions)]

    @property
    def approved_at(self) -> float | None:
        """When the last step was approved."""
        if self.state is not ApprovalState.approved:
            return None
        return self.decisions[-1].at

    def as_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps),
            "state": self.state.value,
            "pending_step": self.pending_step,
            "decisions": [d.as_dict() for d in self.decisions],
        }


def next_position(what: str, digest: str, trail: Trail, step: str, seen_digest: str) -> int:
    """Where a decision on ``step`` goes in ``trail``; ApprovalRefused (a conflict) if nowhere.

    ``what`` names the notice version (``ID.vN``) in messages; ``digest`` is its own.
    """

    def refuse(field: str, message: str) -> ApprovalRefused:
        return ApprovalRefused([Problem(field, f"{what}: {message}")], status=409)

    state = trail.state
    if state is ApprovalState.rejected:
        rejected = next(d for d in trail.decisions if d.decision is Decision.rejected)
        raise refuse(
            "", f"rejected at step {rejected.step!r} by {rejected.approver}; send a new version"
        )
    if seen_digest != digest:
        raise refuse(
            "digest",
            f"the digest given ({seen_digest[:12]}…) is not this version's ({digest[:12]}…): "
            "a decision counts only for the content the approver saw",
        )
    if step not in trail.steps:
        raise refuse("step", f"no step {step!r} (steps: {', '.join(trail.steps)})")
    decided = {d.step: d for d in trail.decisions}
    if step in decided:
        d = decided[step]
        raise refuse("step", f"step {step!r} was already {d.decision.value} by {d.approver}")
    if state is ApprovalState.approved:  # unreachable with distinct steps; kept for safety
        raise refuse("step", "every step is approved already")
    pending = trail.steps[len(trail.decisions)]
    if step != pending:
        raise refuse("step", f"step {pending!r} comes before {step!r}")
    return len(trail.decisions)


def duplicate_steps(steps: Sequence[str]) -> list[int]:
    """The places of steps named a second time."""
    seen: set[str] = set()
    twice = []
    for i, step in enumerate(steps):
        if step in seen:
            twice.append(i)
        seen.add(step)
    return twice
