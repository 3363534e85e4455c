"""Prometheus metrics: the ledger's state read at each scrape, and what this process's worker did.

The ledger collector serves both ``GET /metrics`` and ``syndicate metrics -o``
(node_exporter's textfile collector), so the two never disagree. The worker's
counters and latency histogram live in the process that runs the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .store.base import DeliveryState, Outcome

if TYPE_CHECKING:
    from .dispatcher import AttemptEvent
    from .syndicator import Syndicator

CIRCUIT_STATES = ("closed", "open", "half_open")
# Enqueue to delivered: seconds for a CMS push, hours for a channel down overnight.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)


class LedgerCollector(Collector):
    """Deliveries by channel and state, backlog and its oldest age, circuits: read per scrape."""

    def __init__(self, syndicator: Syndicator) -> None:
        self.syndicator = syndicator

    def collect(self) -> Iterator[Metric]:
        store = self.syndicator.store
        counts = store.counts()
        circuits = store.circuits()
        channels = list(self.syndicator.config.channels)
        channels += sorted({ch for (ch, _) in counts} - set(channels))
        now = time.time()
        backlog = store.backlog(now)

        deliveries = GaugeMetricFamily(
            "syndicate_deliveries",
            "Deliveries in the ledger, by channel and state.",
            labels=["channel", "state"],
        )
        pending = GaugeMetricFamily(
            "syndicate_backlog", "Pending and in-flight deliveries.", labels=["channel"]
        )
        age = GaugeMetricFamily(
            "syndicate_oldest_pending_seconds",
            "How long the oldest due, unfinished delivery has waited (0: none).",
            labels=["channel"],
        )
        circuit_open = GaugeMetricFamily(
            "syndicate_circuit_open",
            "1 while the channel's circuit breaker is open or probing.",
            labels=["channel"],
        )
        circuit_state = GaugeMetricFamily(
            "syndicate_circuit_state",
            "The channel's circuit breaker state: 1 for the current one.",
            labels=["channel", "state"],
        )
        for ch in channels:
            for state in DeliveryState:
                deliveries.add_metric([ch, state.value], counts.get((ch, state), 0))
            unfinished = counts.get((ch, DeliveryState.pending), 0) + counts.get(
                (ch, DeliveryState.in_flight), 0
            )
            pending.add_metric([ch], unfinished)
            due = backlog[ch].oldest_due_at if ch in backlog else None
            age.add_metric([ch], max(0.0, now - due) if due is not None else 0.0)
            current = circuits[ch].state if ch in circuits else "closed"
            circuit_open.add_metric([ch], int(current != "closed"))
            for state_name in CIRCUIT_STATES:
                circuit_state.add_metric([ch, state_name], int(state_name == current))
        yield from (deliveries, pending, age, circuit_open, circuit_state)


class WorkerMetrics:
    """Attempts by channel and outcome, enqueue-to-delivered latency, the worker's pulse."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "syndicate_attempts",
            "Attempts this process's worker recorded, by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "syndicate_delivery_latency_seconds",
            "From enqueue to delivered, per channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.up = Gauge(
            "syndicate_worker_up", "1 while this process's worker runs.", registry=registry
        )

    def observe(self, event: AttemptEvent) -> None:
        """A worker listener: count the attempt, time the delivery."""
        channel = event.claim.channel
        self.attempts.labels(channel, event.outcome.value).inc()
        if event.outcome is Outcome.delivered and event.claim.accepted_at:
            self.latency.labels(channel).observe(max(0.0, time.time() - event.claim.accepted_at))


def ledger_registry(syndicator: Syndicator) -> CollectorRegistry:
    """A registry holding the ledger collector: all ``metrics -o`` writes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(syndicator))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format."""
    return generate_latest(registry)
