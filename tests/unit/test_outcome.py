"""decide(): what an attempt's result does to its delivery and its channel's circuit."""

from __future__ import annotations

from pathlib import Path

from syndicate.adapter import Receipt
from syndicate.config import RetryPolicy
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.outcome import CircuitEffect, decide
from syndicate.retry import Schedule
from syndicate.store.base import Claim, DeliveryState, Gate, Next, Outcome
from syndicate.store.sqlite import SqliteStore

from .test_store import record

SCHEDULE = Schedule(
    RetryPolicy(initial_delay=10, multiplier=2, max_delay=1000, max_attempts=3, jitter=0)
)


def claim(tries: int = 0, first_try_at: float | None = None) -> Claim:
    return Claim(1, "N", 1, "ch", "N.v1.ch", 1, "d" * 64, tries, tries, first_try_at, 130.0)


def test_a_receipt_delivers_and_closes_the_circuit() -> None:
    d = decide(
        Receipt(remote_id="r1", url="https://x/1", status="201"),
        claim(),
        SCHEDULE,
        101.0,
        started=100.0,
        payload_sha256="s",
    )
    assert d.next == Next(DeliveryState.delivered)
    assert d.circuit is CircuitEffect.success
    assert (d.record.outcome, d.record.remote_id, d.record.status) == (
        Outcome.delivered,
        "r1",
        "201",
    )
    assert (d.record.started_at, d.record.finished_at, d.record.payload_sha256) == (
        100.0,
        101.0,
        "s",
    )
    assert d.message == "https://x/1"


def test_a_permanent_error_fails_at_once_and_leaves_the_circuit_alone() -> None:
    d = decide(
        PermanentDeliveryError("bad field", status="422"), claim(), SCHEDULE, 101.0, started=100.0
    )
    assert d.next == Next(DeliveryState.failed)
    assert d.circuit is CircuitEffect.none
    assert (d.record.error_class, d.record.error_message, d.record.status) == (
        "PermanentDeliveryError",
        "bad field",
        "422",
    )


def test_a_transient_error_follows_the_schedule_then_gives_up() -> None:
    first = decide(TransientDeliveryError("503"), claim(), SCHEDULE, 101.0, started=100.0)
    assert first.next == Next(DeliveryState.pending, 111.0)
    assert first.circuit is CircuitEffect.failure
    second = decide(TransientDeliveryError("503"), claim(1, 100.0), SCHEDULE, 121.0, started=120.0)
    assert second.next == Next(DeliveryState.pending, 141.0)
    last = decide(TransientDeliveryError("503"), claim(2, 100.0), SCHEDULE, 141.0, started=140.0)
    assert last.next == Next(DeliveryState.dead)


def test_the_channel_asking_for_a_pause_is_honoured() -> None:
    d = decide(
        TransientDeliveryError("429", retry_after=300), claim(), SCHEDULE, 101.0, started=100.0
    )
    assert d.next == Next(DeliveryState.pending, 401.0)
    # Up and pacing us, not a dead peer: the circuit breaker leaves it alone.
    assert d.circuit is CircuitEffect.none


def test_a_probe_that_told_nothing_lets_the_next_delivery_probe(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "l.db")
    try:
        for i in range(3):
            store.accept(record(f"N-{i}"), ["ch"], 100.0)
        gate = {"ch": Gate(concurrency=4, failures=1, cool_down=10)}
        assert store.circuit_failure("ch", gate["ch"], 100.0, "w")[1]  # opened
        assert len(store.claim_many("w", 111.0, 30, {"ch": 4}, gate)) == 1  # one probe
        assert store.claim_many("w", 111.0, 30, {"ch": 4}, gate) == []
        # The probe was answered 503 with Retry-After: it told nothing of the channel.
        d = decide(
            TransientDeliveryError("503", retry_after=5), claim(), SCHEDULE, 112.0, started=111.0
        )
        assert d.circuit is CircuitEffect.none
        store.release_probe("ch", 112.0)
        assert store.circuits()["ch"].state == "half_open"
        assert len(store.claim_many("w", 112.0, 30, {"ch": 4}, gate)) == 1
    finally:
        store.close()


def test_an_interruption_is_due_again_at_once_and_blames_nobody() -> None:
    d = decide(
        TransientDeliveryError("stopped"), claim(), SCHEDULE, 101.0, started=100.0, interrupted=True
    )
    assert d.next == Next(DeliveryState.pending, 101.0)
    assert d.circuit is CircuitEffect.none


def test_any_exception_is_transient_with_its_class_and_a_bounded_message() -> None:
    d = decide(RuntimeError("x" * 5000), claim(), SCHEDULE, 101.0, started=100.0)
    assert d.record.outcome is Outcome.transient
    assert d.record.error_class == "RuntimeError"
    assert len(d.record.error_message or "") == 2000
