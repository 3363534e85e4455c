"""The latency scenario's search for the end-to-end capacity, on made-up probes.

The real probes start producer processes and a worker (``test_bench_smoke`` runs
them at the tiniest size); here each probe's outcome is computed from a capacity
chosen by the test, so the bisection and its keeps-up rule are checked exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import latency, workload  # noqa: E402


def outcome(asked: float, achieved: float, behind: int) -> latency.Latency:
    """A probe's result: ``asked`` and ``achieved`` in deliveries/s."""
    return latency.Latency(achieved / workload.CHANNELS, 1, 1.0, 1.0, 1.0, 1.0, behind)


def test_a_probe_keeps_up_only_when_the_rate_is_offered_and_no_queue_is_left() -> None:
    assert latency.kept_up(2_000, outcome(2_000, 1_990, 40))
    # The producers themselves fell short: the set-up did not sustain what was asked.
    assert not latency.kept_up(2_000, outcome(2_000, 1_900, 0))
    # A queue of more than half a second's deliveries was left when the producers stopped.
    assert not latency.kept_up(2_000, outcome(2_000, 2_000, 1_001))
    assert latency.kept_up(2_000, outcome(2_000, 2_000, 1_000))


@pytest.mark.parametrize("sustained", [1_100.0, 2_600.0, 3_900.0])
def test_bisection_finds_the_highest_rate_that_kept_up(
    sustained: float, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[float] = []

    def probe(folder: Path, base: str, rate: float, *args: Any, **kwargs: Any) -> latency.Latency:
        deliveries = rate * workload.CHANNELS
        asked.append(deliveries)
        if deliveries <= sustained:
            return outcome(deliveries, deliveries, 0)
        # Past it, the achieved rate is what the set-up sustains and the rest queues up.
        return outcome(deliveries, sustained, int((deliveries - sustained) * 10))

    monkeypatch.setattr(latency, "run", probe)
    found, probes = latency.end_to_end_capacity(
        lambda: tmp_path, "http://127.0.0.1:1", 4_000.0, 10.0, 8, 0.02, steps=6
    )
    assert [p.asked for p in probes] == pytest.approx(asked)
    assert len(probes) == 6
    # The rule forgives a shortfall of 3%: a rate that little above the truth may pass.
    slack = sustained / (1 - latency.KEPT_UP_SHORTFALL)
    assert all(p.kept_up for p in probes if p.asked <= sustained)
    assert not any(p.kept_up for p in probes if p.asked > slack)
    # Within one bisection step below the truth, and never past the slack above it.
    step = (4_000.0 - 1_000.0) / 2**6
    assert sustained - step <= found <= slack
