"""Run the benchmark: ``python -m bench [--size tiny|full] [--only throughput,latency,...]``.

Starts the sink in its own process, runs the scenarios, prints one table
(Markdown) per scenario and the targets of issue 5 against what was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import api as api_mod
from . import latency as latency_mod
from . import ledger, throughput, workload
from .sink import SinkProcess

SYN = "syndicate (cms_http, SQLite ledger)"
LATENCY_FRACTIONS = (0.5, 0.8)
SYN_PROCESSES = "syndicate run --processes 2 (SQLite ledger)"
SCENARIOS = ("throughput", "pool", "latency", "isolation", "backlog", "ledger", "api")


@dataclass(frozen=True)
class Size:
    notices: int  # throughput and isolation: notices × 5 channels
    rounds: int
    rate: float  # latency: notices per second offered
    seconds: float  # latency: for how long
    backlog: tuple[int, int]  # deliveries pending, small and large
    attempts: int  # ledger reads: attempts in the ledger
    api_notices: int = 40  # POST /v1/notices: notices sent
    api_clients: int = 4  # concurrent HTTP clients
    api_repeat: int = 5  # each read endpoint, this many times
    processes_row: bool = True  # throughput: `run --processes 2` (seconds of start-up)
    capacity_steps: int = 4  # latency: probes that find the end-to-end capacity


SIZES = {
    "tiny": Size(
        notices=20,
        rounds=1,
        rate=20,
        seconds=1.0,
        backlog=(100, 500),
        attempts=5_000,
        processes_row=False,
        capacity_steps=2,
    ),
    "small": Size(
        notices=400,
        rounds=3,
        rate=100,
        seconds=5.0,
        backlog=(2_000, 20_000),
        attempts=100_000,
        api_notices=1_000,
        api_clients=16,
        api_repeat=30,
    ),
    "full": Size(
        notices=2_000,
        rounds=3,
        rate=200,
        seconds=20.0,
        backlog=(20_000, 200_000),
        attempts=1_000_000,
        api_notices=5_000,
        api_clients=16,
        api_repeat=100,
    ),
}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import psutil  # type: ignore[import-untyped]

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _layout(x: api_mod.Enqueue) -> str:
    """The processes of an API enqueue row, as an operator would start them."""
    if not x.worker_apart:
        return "serve"
    workers = f" --workers {x.apis}" if x.apis > 1 else ""
    return f"serve --no-worker{workers}, run"


def _table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


class Bench:
    """One benchmark session: one sink, one scratch folder, the results so far."""

    def __init__(self, size: Size, concurrency: int, scratch: Path, log: Callable[[str], None]):
        self.size = size
        self.concurrency = concurrency
        self.scratch = scratch
        self.log = log
        self.results: dict[str, Any] = {}
        self._n = 0

    def folder(self, name: str) -> Path:
        self._n += 1
        path = self.scratch / f"{name}{self._n}"
        path.mkdir(parents=True)
        return path

    def _timed(self, sink: SinkProcess, fn: Callable[[], throughput.Run]) -> dict[str, float]:
        cpu0, wall0 = sink.cpu_seconds(), time.perf_counter()
        run = fn()
        cpu, wall = sink.cpu_seconds() - cpu0, time.perf_counter() - wall0
        # The sink's share of one core while the contender ran (its requests all fall inside).
        return {
            "rate": run.rate,
            "delivered": run.delivered,
            "seconds": run.seconds,
            "enqueue_rate": run.delivered / workload.CHANNELS / run.enqueue_seconds
            if run.enqueue_seconds
            else 0.0,
            "sink_cpu": cpu / wall if wall else 0.0,
            "cpu_ms": run.cpu_ms_per_delivery,
            "load": os.getloadavg()[0],
        }

    # --- scenarios -------------------------------------------------------------

    def throughput(self, sink: SinkProcess, variants: bool) -> str:
        n, c = self.size.notices, self.concurrency
        bodies = [workload.body(i) for i in range(n)]
        contenders: dict[str, Callable[[], throughput.Run]] = {
            SYN: lambda: throughput.syndicate(self.folder("tp"), sink.url, n, c),
            "Apprise (json://, no ledger)": lambda: throughput.apprise_loop(sink.url, n),
            "bare httpx.AsyncClient": lambda: throughput.httpx_loop(sink.url, bodies, c),
            "bare aiohttp": lambda: throughput.aiohttp_loop(sink.url, bodies, c),
        }
        if self.size.processes_row:
            contenders[SYN_PROCESSES] = lambda: throughput.syndicate_processes(
                self.folder("tpp"), sink.url, n, c, processes=2
            )
        if variants:
            tp = throughput
            contenders.update(
                {
                    "before: syndicate through httpx over aiohttp": lambda: tp.syndicate(
                        self.folder("tpx"), sink.url, n, c, adapter="cms_http_httpx_aiohttp"
                    ),
                    "what-if: syndicate on uvloop": lambda: tp.syndicate(
                        self.folder("tpu"), sink.url, n, c, loop="uvloop"
                    ),
                    "what-if: syndicate on httpx's own transport": lambda: tp.syndicate(
                        self.folder("tph"), sink.url, n, c, adapter="cms_http_httpx"
                    ),
                    "attribution: syndicate, ledger not fsynced": lambda: tp.syndicate(
                        self.folder("tpf"), sink.url, n, c, fsync=False
                    ),
                }
            )
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
        for r in range(self.size.rounds):
            for name, fn in contenders.items():
                result = self._timed(sink, fn)
                runs[name].append(result)
                self.log(
                    f"  round {r + 1} {name}: {result['rate']:.0f}/s "
                    f"({result['delivered']} in {result['seconds']:.2f}s, "
                    f"{result['cpu_ms']:.2f} CPU ms each, sink CPU {result['sink_cpu']:.0%}, "
                    f"load {result['load']:.1f})"
                )
        med = {name: statistics.median(x["rate"] for x in rs) for name, rs in runs.items()}
        syn = med[SYN]
        rows = []
        for name, rs in runs.items():
            delivered = min(int(x["delivered"]) for x in rs)
            rows.append(
                [
                    name,
                    f"{med[name]:,.0f}",
                    f"{min(x['rate'] for x in rs):,.0f}–{max(x['rate'] for x in rs):,.0f}",
                    f"{delivered:,}",
                    f"{statistics.median(x['cpu_ms'] for x in rs):.2f}",
                    f"{statistics.median(x['sink_cpu'] for x in rs):.0%}",
                    f"{min(x['load'] for x in rs):.1f}–{max(x['load'] for x in rs):.1f}",
                ]
            )
        enq = statistics.median(x["enqueue_rate"] for x in runs[SYN])
        self.results["throughput"] = {
            "notices": n,
            "channels": workload.CHANNELS,
            "concurrency_per_channel": c,
            "rounds": self.size.rounds,
            "runs": runs,
            "median_rate": med,
            "enqueue_rate": enq,
        }
        ratios = (
            f"syndicate / Apprise = {syn / med['Apprise (json://, no ledger)']:.2f}×, "
            f"syndicate / httpx = {syn / med['bare httpx.AsyncClient']:.2f}×, "
            f"syndicate / aiohttp = {syn / med['bare aiohttp']:.2f}×"
        )
        if SYN_PROCESSES in med:
            two = med[SYN_PROCESSES]
            ratios += (
                f"; 2 processes / Apprise = {two / med['Apprise (json://, no ledger)']:.2f}×, "
                f"2 processes / aiohttp = {two / med['bare aiohttp']:.2f}×"
            )
        self.results["throughput"]["ratios"] = ratios
        return (
            f"### Throughput: {n:,} notices × {workload.CHANNELS} channels, concurrency {c} per "
            f"channel, median of {self.size.rounds} alternating rounds\n\n"
            + _table(
                [
                    "contender",
                    "deliveries/s (median)",
                    "range",
                    "delivered",
                    "CPU ms / delivery",
                    "sink CPU",
                    "load average",
                ],
                rows,
            )
            + f"\n\n{ratios}.  syndicate enqueue: {enq:,.0f} notices/s "
            "(one durable commit per notice).\n"
        )

    def pool(self, sink: SinkProcess) -> str:
        """Connections per channel: where httpx's pool stops paying, next to syndicate."""
        n = self.size.notices
        bodies = [workload.body(i) for i in range(n)]
        levels = (4, 8, 16, 32)
        rows = []
        self.results["pool"] = {}
        for c in levels:
            row = [str(c)]
            for name, fn in (
                ("bare httpx", lambda c=c: throughput.httpx_loop(sink.url, bodies, c)),
                (
                    "syndicate",
                    lambda c=c: throughput.syndicate(self.folder("pool"), sink.url, n, c),
                ),
            ):
                result = self._timed(sink, fn)
                self.results["pool"][f"{name} c={c}"] = result
                self.log(f"  {name}, {c} per channel: {result['rate']:.0f}/s")
                row += [f"{result['rate']:,.0f}", f"{result['cpu_ms']:.2f}"]
            rows.append(row)
        return (
            f"### Connections per channel: {n:,} notices × {workload.CHANNELS} channels, "
            "one round\n\n"
            + _table(
                [
                    "connections per channel",
                    "bare httpx deliveries/s",
                    "CPU ms",
                    "syndicate deliveries/s",
                    "CPU ms",
                ],
                rows,
            )
            + "\n"
        )

    def latency(self, sink: SinkProcess, polls: list[float], variants: bool) -> str:
        """Capacity first, two ways, then fixed fractions of each.

        The drain capacity is the throughput row's: a backlog delivered with nothing
        else running. The end-to-end capacity is the highest rate the latency run's own
        set-up keeps up with (enqueue processes committing one notice at a time beside
        the worker, on the same cores and the same ledger write lock), found by
        bisection. The rates offered are the size's fixed rate (200 notices/s × 5 =
        1,000 deliveries/s at full size) and 50% and 80% of each capacity; each row
        says what the producers actually achieved.
        """
        capacity_run = throughput.syndicate(
            self.folder("cap"), sink.url, self.size.notices, self.concurrency
        )
        capacity = capacity_run.rate  # deliveries/s
        self.log(f"  drain capacity: {capacity:.0f} deliveries/s (load {os.getloadavg()[0]:.1f})")
        poll = min(polls)
        end_to_end, probes = latency_mod.end_to_end_capacity(
            lambda: self.folder("probe"),
            sink.url,
            capacity,
            self.size.seconds / 2,
            self.concurrency,
            poll,
            self.size.capacity_steps,
        )
        for probe in probes:
            self.log(
                f"    probe {probe.asked:.0f}/s: achieved "
                f"{probe.latency.offered * workload.CHANNELS:.0f}/s, "
                f"{probe.latency.behind} behind at the end, "
                f"{'kept up' if probe.kept_up else 'fell behind'}"
            )
        # With no probe kept up, the answer is the bisection's floor, never shown to hold.
        unproven = "" if any(p.kept_up for p in probes) else ", no probe kept up: a floor"
        self.log(f"  end-to-end capacity: {end_to_end:.0f} deliveries/s{unproven}")
        rows = []
        self.results["latency"] = {
            "capacity": capacity,
            "end_to_end_capacity": end_to_end,
            "end_to_end_kept_up": not unproven,
            "probes": [
                {"asked": p.asked, "kept_up": p.kept_up, **asdict(p.latency)} for p in probes
            ],
            "runs": {},
        }
        offers = [
            (f"fixed {self.size.rate * workload.CHANNELS:,.0f}/s", self.size.rate),
            *(
                (f"{f:.0%} of drain capacity", f * capacity / workload.CHANNELS)
                for f in LATENCY_FRACTIONS
            ),
            *(
                (f"{f:.0%} of end-to-end capacity", f * end_to_end / workload.CHANNELS)
                for f in LATENCY_FRACTIONS
            ),
        ]
        runs: list[tuple[str, str, float, float, dict[str, Any]]] = [
            ("syndicate", label, rate, poll, {}) for poll in polls for label, rate in offers
        ]
        if variants:
            label, rate = offers[0]
            runs.append(
                (
                    "what-if: httpx's own transport",
                    label,
                    rate,
                    min(polls),
                    {"adapter": "cms_http_httpx"},
                )
            )
        for worker, label, rate, poll, extra in runs:
            lat = latency_mod.run(
                self.folder("lat"),
                sink.url,
                rate,
                self.size.seconds,
                self.concurrency,
                poll,
                **extra,
            )
            load = os.getloadavg()[0]
            self.log(
                f"  {worker}, {label}, poll {poll:g}s: "
                f"offered {lat.offered * workload.CHANNELS:.0f}/s, "
                f"p99 {lat.p99_ms:.1f} ms over {lat.deliveries} deliveries, load {load:.1f}"
            )
            key = f"{label}, poll {poll:g}s" + (", what-if" if extra else "")
            self.results["latency"]["runs"][key] = {**asdict(lat), "asked": rate, "load": load}
            rows.append(
                [
                    worker,
                    label,
                    f"{rate * workload.CHANNELS:,.0f}/s",
                    f"{lat.offered * workload.CHANNELS:,.0f}/s",
                    f"{poll * 1000:g} ms",
                    f"{lat.deliveries:,}",
                    f"{lat.p50_ms:.1f}",
                    f"{lat.p95_ms:.1f}",
                    f"{lat.p99_ms:.1f}",
                    f"{lat.max_ms:.1f}",
                    f"{load:.1f}",
                ]
            )
        return (
            f"### Latency: enqueue (other processes) to delivered, {workload.CHANNELS} channels, "
            f"{self.size.seconds:g} s per rate; capacity measured first: drain {capacity:,.0f} "
            f"deliveries/s, end to end {end_to_end:,.0f} deliveries/s "
            f"({len(probes)} probes of {self.size.seconds / 2:g} s{unproven})\n\n"
            + _table(
                [
                    "worker",
                    "offered",
                    "asked deliveries/s",
                    "achieved deliveries/s",
                    "poll_interval",
                    "deliveries",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "load average",
                ],
                rows,
            )
            + "\n"
        )

    def isolation(self, sink: SinkProcess) -> str:
        n, c = self.size.notices, self.concurrency
        hole = f"http://127.0.0.1:{sink.hole_port}"
        base_rates: list[float] = []
        hole_rates: list[float] = []
        for r in range(self.size.rounds):
            for holed, rates in ((False, base_rates), (True, hole_rates)):
                run = throughput.syndicate(
                    self.folder("iso"), sink.url, n, c, hole=hole if holed else None
                )
                if not holed:
                    # The healthy baseline counts the same four channels.
                    run = throughput.Run(run.delivered * 4 // 5, run.seconds)
                rates.append(run.rate)
                self.log(
                    f"  round {r + 1} {'black-holed' if holed else 'healthy'}: "
                    f"{run.rate:.0f}/s to 4 channels"
                )
        base, worst = statistics.median(base_rates), statistics.median(hole_rates)
        self.results["isolation"] = {
            "healthy_rates": base_rates,
            "black_holed_rates": hole_rates,
            "ratio": worst / base,
        }
        return (
            "### Isolation: one of 5 channels black-holed (accepts TCP, never answers)\n\n"
            + _table(
                ["run", "deliveries/s to the 4 healthy channels (median)"],
                [
                    ["all 5 healthy", f"{base:,.0f}"],
                    ["ch4 black-holed", f"{worst:,.0f}"],
                    ["ratio", f"{worst / base:.2f}"],
                ],
            )
            + "\n"
        )

    def backlog(self, sink: SinkProcess) -> str:
        rows = []
        self.results["backlog"] = []
        for count in self.size.backlog:
            d = ledger.drain(self.folder("backlog"), sink.url, count, self.concurrency)
            self.log(
                f"  {count}: {d.delivered} delivered in {d.seconds:.1f}s, {d.peak_rss_mb:.1f} MB"
            )
            self.results["backlog"].append(asdict(d))
            rows.append(
                [
                    f"{count:,}",
                    f"{d.delivered:,}",
                    f"{d.seconds:.1f}",
                    f"{d.delivered / d.seconds:,.0f}",
                    f"{d.peak_rss_mb:.1f}",
                ]
            )
        small, large = self.results["backlog"][0], self.results["backlog"][-1]
        growth = large["peak_rss_mb"] - small["peak_rss_mb"]
        self.results["backlog_growth_mb"] = growth
        return (
            "### Backlog: pending deliveries drained by a worker in its own process\n\n"
            + _table(
                ["backlog", "delivered", "seconds", "deliveries/s", "worker peak RSS MB"], rows
            )
            + f"\n\nRSS growth from {small['deliveries']:,} to {large['deliveries']:,}: "
            f"{growth:+.1f} MB.\n"
        )

    def ledger(self) -> str:
        total, queries = ledger.reads(self.folder("ledger"), self.size.attempts)
        self.results["ledger"] = {"attempts": total, "queries": [asdict(q) for q in queries]}
        for q in queries:
            self.log(f"  {q.name}: {q.median_ms:.2f} ms")
        return (
            f"### Ledger reads: {total:,} attempts, the store's own read methods, median of 5\n\n"
            + _table(
                ["query", "rows", "median ms", "max ms"],
                [[q.name, f"{q.rows:,}", f"{q.median_ms:.2f}", f"{q.max_ms:.2f}"] for q in queries],
            )
            + "\n"
        )

    def api(self, sink: SinkProcess) -> str:
        s = self.size
        e = api_mod.enqueue(
            self.folder("api"), sink.url, s.api_notices, s.api_clients, self.concurrency
        )
        self.log(f"  POST /v1/notices: {e.rate:.0f}/s, p99 {e.p99_ms:.1f} ms")
        # The same notices 20 to a request: one transaction, one commit for each batch.
        b = api_mod.enqueue(
            self.folder("apibatch"), sink.url, s.api_notices, s.api_clients, self.concurrency, 20
        )
        self.log(f"  POST /v1/notices, batches of 20: {b.rate:.0f}/s, p99 {b.p99_ms:.1f} ms")
        # One notice a request again, over two API processes and a worker process of its own.
        m = api_mod.enqueue(
            self.folder("apisplit"), sink.url, s.api_notices, s.api_clients, self.concurrency, 1, 2
        )
        self.log(f"  POST /v1/notices, 2 API processes + run: {m.rate:.0f}/s, p99 {m.p99_ms:.1f}")
        # One API process and one worker process: each has an interpreter lock of its own.
        w = api_mod.enqueue(
            self.folder("apiapart"),
            sink.url,
            s.api_notices,
            s.api_clients,
            self.concurrency,
            worker_apart=True,
        )
        self.log(f"  POST /v1/notices, 1 API process + run: {w.rate:.0f}/s, p99 {w.p99_ms:.1f}")
        total, reads = api_mod.reads(self.folder("apiread"), sink.url, s.attempts, s.api_repeat)
        for r in reads:
            self.log(f"  {r.name}: p99 {r.p99_ms:.1f} ms")
        self.results["api"] = {
            "enqueue": asdict(e),
            "enqueue_batch": asdict(b),
            "enqueue_split": asdict(m),
            "enqueue_apart": asdict(w),
            "attempts": total,
            "reads": [asdict(r) for r in reads],
        }
        enqueue_table = _table(
            [
                "notices",
                "clients",
                "per request",
                "processes",
                "accepted/s",
                "p50 ms",
                "p99 ms",
                "delivered meanwhile",
                "all delivered after",
            ],
            [
                [
                    f"{x.notices:,}",
                    str(x.clients),
                    str(x.batch),
                    _layout(x),
                    f"{x.rate:,.0f}",
                    f"{x.p50_ms:.1f}",
                    f"{x.p99_ms:.1f}",
                    f"{x.delivered_meanwhile:,} of {x.deliveries:,}",
                    f"{x.drained_seconds:.1f} s",
                ]
                for x in (e, b, w, m)
            ],
        )
        read_table = _table(
            ["endpoint", "rows", "p50 ms", "p99 ms"],
            [[r.name, f"{r.rows:,}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}"] for r in reads],
        )
        return (
            f"### HTTP API: POST /v1/notices, {workload.CHANNELS} routed channels each, "
            "while the worker delivers (in `serve`, or a `run` of its own: see processes); "
            f"{s.api_clients} aiohttp clients in the bench process\n\n"
            + enqueue_table
            + f"\n\n### HTTP API reads: {total:,} attempts, {s.api_repeat} requests each, "
            f"one after another, after {api_mod.WARM_UP} untimed\n\n" + read_table + "\n"
        )

    def targets(self) -> str:
        r = self.results
        rows = []
        if "throughput" in r:
            med = r["throughput"]["median_rate"]
            apprise, aiohttp = med["Apprise (json://, no ledger)"], med["bare aiohttp"]
            cpu = statistics.median(x["cpu_ms"] for x in r["throughput"]["runs"][SYN])
            named = [n for n in (SYN, SYN_PROCESSES) if n in med]
            for name in named:
                x = med[name] / apprise
                rows.append(
                    [f"(a) ≥ 3× Apprise, every attempt durable: {name}", f"{x:.2f}×", _ok(x >= 3)]
                )
            for name in named:
                x = med[name] / aiohttp
                rows.append([f"(b) ≥ 0.3× bare aiohttp: {name}", f"{x:.2f}×", _ok(x >= 0.3)])
            rows.append(["(c) CPU per delivery ≤ 0.35 ms", f"{cpu:.2f} ms", _ok(cpu <= 0.35)])
        if "latency" in r:
            for key, lat in r["latency"]["runs"].items():
                p99 = lat["p99_ms"]
                rows.append(
                    [f"(d) p99 enqueue→delivered < 100 ms, {key}", f"{p99:.1f} ms", _ok(p99 < 100)]
                )
        if "isolation" in r:
            x = r["isolation"]["ratio"]
            rows.append(["(e) isolation ratio ≥ 0.9", f"{x:.2f}", _ok(x >= 0.9)])
        if "backlog_growth_mb" in r:
            g = r["backlog_growth_mb"]
            rows.append(["(e) RSS growth 20k → 200k < 50 MB", f"{g:+.1f} MB", _ok(g < 50)])
        if "ledger" in r:
            worst = max(q["median_ms"] for q in r["ledger"]["queries"])
            rows.append(
                ["(e) each ledger query < 50 ms", f"slowest {worst:.1f} ms", _ok(worst < 50)]
            )
        if "api" in r:
            rate = r["api"]["enqueue"]["rate"]
            rows.append(
                ["(f) ≥ 500 notices/s through POST /v1/notices", f"{rate:,.0f}/s", _ok(rate >= 500)]
            )
            for key, label in (
                ("enqueue_batch", "(f) the same, 20 notices a request"),
                (
                    "enqueue_apart",
                    "(f) the same, one a request, 1 API process and a worker process",
                ),
                (
                    "enqueue_split",
                    "(f) the same, one a request, 2 API processes and a worker process",
                ),
            ):
                if key in r["api"]:
                    rate = r["api"][key]["rate"]
                    rows.append([label, f"{rate:,.0f}/s", _ok(rate >= 500)])
            worst = max(q["p99_ms"] for q in r["api"]["reads"])
            rows.append(
                ["(g) every read endpoint p99 < 50 ms", f"slowest {worst:.1f} ms", _ok(worst < 50)]
            )
        return "### Targets\n\n" + _table(["target", "measured", "met"], rows) + "\n"


def _ok(met: bool) -> str:
    return "yes" if met else "**no**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}"
    )
    parser.add_argument("--rounds", type=int, help="override the size's rounds")
    parser.add_argument("--notices", type=int, help="override the throughput notices")
    parser.add_argument("--rate", type=float, help="override the latency run's notices/s")
    parser.add_argument("--concurrency", type=int, default=8, help="connections per channel")
    parser.add_argument(
        "--poll",
        default="0.02",
        help="worker poll_interval(s) for the latency run, comma-separated seconds",
    )
    parser.add_argument(
        "--variants", action="store_true", help="add what-if rows (httpx's own transport, no fsync)"
    )
    parser.add_argument("--profile", type=Path, help="profile one syndicate run to this .txt")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--keep", type=Path, help="keep ledgers in this folder")
    args = parser.parse_args(argv)

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    size = SIZES[args.size]
    if args.rounds:
        size = Size(**{**asdict(size), "rounds": args.rounds})
    if args.notices:
        size = Size(**{**asdict(size), "notices": args.notices})
    if args.rate:
        size = Size(**{**asdict(size), "rate": args.rate})

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="syndicate-bench-"))
    info = machine()
    out = [
        "## syndicate benchmark",
        "",
        f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['memory_gb']} GB; "
        f"Python {info['python']}; load average at start {info['load_avg_at_start']}",
        f"command: python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}",
        "",
    ]
    bench = Bench(size, args.concurrency, scratch, log)
    try:
        with SinkProcess() as sink:
            if args.profile:
                log("profiling one syndicate throughput run")
                throughput.syndicate(
                    bench.folder("prof"),
                    sink.url,
                    size.notices,
                    args.concurrency,
                    profile=args.profile,
                )
            for name in SCENARIOS:
                if name not in only:
                    continue
                log(f"{name} …")
                if name == "throughput":
                    out.append(bench.throughput(sink, args.variants))
                elif name == "pool":
                    out.append(bench.pool(sink))
                elif name == "latency":
                    polls = [float(p) for p in args.poll.split(",")]
                    out.append(bench.latency(sink, polls, args.variants))
                elif name == "isolation":
                    out.append(bench.isolation(sink))
                elif name == "backlog":
                    out.append(bench.backlog(sink))
                elif name == "ledger":
                    out.append(bench.ledger())
                elif name == "api":
                    out.append(bench.api(sink))
            out.append(bench.targets())
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print("\n".join(out))
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "size": asdict(size), **bench.results}, indent=2),
            "utf-8",
        )
    return 0
