"""Scale-out rows: many workers on one PostgreSQL ledger, next to SQLite with one.

- deliveries/s with 1, 2 and 4 worker processes on PostgreSQL and 1 on SQLite, the
  same backlog (N notices × 5 channels) on the same sink, in one run;
- enqueue-to-delivered latency (p50, p99) at a steady offered load, on each;
- the dashboard's queries on a PostgreSQL ledger of 10,000,000 attempts.

    python -m bench.scale [--notices 2000] [--workers 1,2,4] [--rate 50] [--seconds 20]
                          [--attempts 10000000] [--pg postgresql://postgres@127.0.0.1/postgres]

Workers are ``syndicate run`` processes, as an operator starts them. PostgreSQL
databases are made fresh for every row and dropped after.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from syndicate.store import open_store
from syndicate.store.base import AttemptFilter, DeliveryState, Outcome
from syndicate.store.postgres import PostgresStore
from syndicate.syndicator import Syndicator

from . import workload
from .ledger import Query, dashboard_queries
from .sink import SinkProcess

CONCURRENCY = 32  # per channel, all workers together: high enough not to be what limits
ADMIN = os.environ.get("SYNDICATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def database(admin: str) -> Iterator[str]:
    """A fresh database on the server ``admin`` reaches; dropped afterwards."""
    name = f"syndicate_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def _config(folder: Path, base: str, store: str, concurrency: int) -> Path:
    path = workload.write_config(folder, workload.channel_urls(base), concurrency=concurrency)
    text = path.read_text(encoding="utf-8").replace("sqlite:///ledger.db", f'"{store}"')
    path.write_text(text, encoding="utf-8")
    return path


def _workers(config: Path, n: int) -> list[subprocess.Popen[bytes]]:
    """``n`` worker processes, returned once every one of them is up and idle."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    logs = [config.parent / f"worker-{uuid.uuid4().hex[:6]}.log" for _ in range(n)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "syndicate", "-c", str(config), "run"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                )
            )
    deadline = time.monotonic() + 120
    while not all("running" in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            _stop(procs)
            raise RuntimeError("the workers did not start: " + logs[0].read_text())
        time.sleep(0.05)
    return procs


def _release(url: str) -> None:
    """SETUP: the backlog was enqueued under embargo; make all of it due now, at once."""
    now = time.time()
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        try:
            db.execute("UPDATE deliveries SET next_attempt_at = ?", (now,))
        finally:
            db.close()
        return
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE deliveries SET next_attempt_at = %s", (now,))
        conn.execute("NOTIFY syndicate_due")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _delivered(url: str) -> int:
    store = open_store(url, notify=False)
    try:
        return sum(n for (_, s), n in store.counts().items() if s is DeliveryState.delivered)
    finally:
        store.close()


def _wait(url: str, total: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (done := _delivered(url)) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    return done


@dataclass(frozen=True)
class Row:
    ledger: str
    workers: int
    deliveries: int
    seconds: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0


def throughput(folder: Path, base: str, store: str, label: str, workers: int, notices: int) -> Row:
    """The backlog enqueued under embargo, the workers started and idle; then all of it is
    made due at once and the clock runs until it is delivered."""
    config = _config(folder, base, store, concurrency=CONCURRENCY)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with Syndicator.from_config(config, registry=workload.registry()) as syn:
        for i in range(notices):
            syn.enqueue({**workload.notice(i, "SCALE"), "publish_at": later})
    procs = _workers(config, workers)
    try:
        started = time.perf_counter()
        _release(store)
        done = _wait(store, notices * workload.CHANNELS, timeout=600)
        seconds = time.perf_counter() - started
    finally:
        _stop(procs)
    return Row(label, workers, done, seconds)


def latency(
    folder: Path, base: str, store: str, label: str, workers: int, rate: float, seconds: float
) -> Row:
    """Notices offered at ``rate``/s while the workers run; accepted → delivered, per delivery."""
    config = _config(folder, base, store, concurrency=CONCURRENCY)
    Syndicator.from_config(config, registry=workload.registry()).close()
    procs = _workers(config, workers)
    try:
        total = int(rate * seconds)
        with Syndicator.from_config(config, registry=workload.registry()) as syn:
            # Each worker's first delivery opens its connections: not part of the figure.
            for i in range(workers * 4):
                syn.enqueue(workload.notice(i, "WARM"))
            _wait(store, workers * 4 * workload.CHANNELS, timeout=120)
            start = time.time()
            for i in range(total):
                delay = start + i / rate - time.time()
                if delay > 0:
                    time.sleep(delay)
                syn.enqueue(workload.notice(i, "LAT"))
        _wait(store, (total + workers * 4) * workload.CHANNELS, timeout=120)
    finally:
        _stop(procs)
    ledger = open_store(store, notify=False)
    try:
        notices: dict[tuple[str, int], float] = {}
        waits = []
        for a in ledger.attempts(AttemptFilter(outcome=Outcome.delivered)):
            if not a.notice_id.startswith("LAT"):
                continue
            key = (a.notice_id, a.notice_version)
            if key not in notices:
                record = ledger.notice(*key)
                assert record is not None
                notices[key] = record.accepted_at
            waits.append((a.finished_at - notices[key]) * 1000)
    finally:
        ledger.close()
    q = statistics.quantiles(waits, n=100)
    return Row(label, workers, len(waits), seconds, q[49], q[98])


# --- the dashboard at 10,000,000 attempts ------------------------------------------


def fill_history(url: str, attempts: int, year: int = 2025) -> None:
    """SETUP: a year of history straight into the schema (as bench/ledger.py does for SQLite)."""
    start = time.mktime((year, 1, 1, 0, 0, 0, 0, 0, 0))
    span = 365 * 86400.0
    deliveries = int(attempts / 1.05)
    notices = max(1, deliveries // workload.CHANNELS)
    step = span / notices
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        statements = [
            f"""
            INSERT INTO notices (pk, id, version, category, notice_type, region_code, title,
                                 digest, content, publish_at, publish_day, accepted_at)
            SELECT i + 1, 'HIST-' || lpad(i::text, 7, '0'), 1,
                   (ARRAY['construction', 'procurement', 'land_mineral', 'state_property',
                          'work_news'])[i % 5 + 1],
                   'tender', '441600', 'notice ' || i, lpad(i::text, 64, '0'), '{{}}',
                   {start} + i * {step},
                   to_char(to_timestamp({start} + i * {step}) AT TIME ZONE 'Asia/Shanghai',
                           'YYYY-MM-DD'),
                   {start} + i * {step}
            FROM generate_series(0, {notices - 1}) AS i
            """,
            f"""
            INSERT INTO deliveries (id, notice_pk, channel, idempotency_key, state, attempts,
                                    tries, next_attempt_at, fence, remote_id, last_error,
                                    updated_at)
            SELECT i + 1, i / 5 + 1, 'ch' || (i % 5),
                   'HIST-' || lpad((i / 5)::text, 7, '0') || '.v1.ch' || (i % 5),
                   CASE WHEN i % 101 = 7 THEN 'failed' ELSE 'delivered' END,
                   CASE WHEN i % 21 = 3 AND i % 101 != 7 THEN 2 ELSE 1 END,
                   CASE WHEN i % 21 = 3 AND i % 101 != 7 THEN 2 ELSE 1 END,
                   {start} + (i / 5) * {step} + 1, 1,
                   CASE WHEN i % 101 = 7 THEN NULL ELSE 'r' || i END,
                   CASE WHEN i % 101 = 7 THEN 'PermanentDeliveryError: HTTP 422' END,
                   {start} + (i / 5) * {step} + 1
            FROM generate_series(0, {notices * 5 - 1}) AS i
            """,
            """
            INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at,
                                  outcome, error_class, error_message, status, remote_id,
                                  payload_sha256)
            SELECT id, 1, 'bench', 1, updated_at - 0.2, updated_at - 0.1,
                   CASE WHEN attempts = 2 THEN 'transient'
                        WHEN state = 'failed' THEN 'permanent' ELSE 'delivered' END,
                   CASE WHEN attempts = 2 THEN 'TransientDeliveryError'
                        WHEN state = 'failed' THEN 'PermanentDeliveryError' END,
                   CASE WHEN attempts = 2 THEN 'HTTP 503 Service Unavailable'
                        WHEN state = 'failed' THEN 'HTTP 422 Unprocessable Entity' END,
                   CASE WHEN attempts = 2 THEN '503' WHEN state = 'failed' THEN '422'
                        ELSE '200' END,
                   remote_id, md5(id::text) || md5(id::text)
            FROM deliveries ORDER BY id
            """,
            """
            INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at,
                                  outcome, status, remote_id, payload_sha256)
            SELECT id, 2, 'bench', 1, updated_at - 0.05, updated_at, 'delivered', '200',
                   remote_id, md5(id::text) || md5(id::text)
            FROM deliveries WHERE attempts = 2 ORDER BY id
            """,
            """
            INSERT INTO tallies (day, category, channel, routed, delivered)
            SELECT publish_day, category, '', COUNT(*), 0 FROM notices GROUP BY 1, 2
            UNION ALL
            SELECT n.publish_day, n.category, d.channel, COUNT(*),
                   COUNT(*) FILTER (WHERE d.state = 'delivered')
            FROM deliveries d JOIN notices n ON n.pk = d.notice_pk GROUP BY 1, 2, 3
            """,
            "VACUUM ANALYZE",
        ]
        for sql in statements:
            conn.execute(sql)  # type: ignore[arg-type]


def dashboard(
    admin: str, attempts: int, repeat: int = 5, keep: str | None = None
) -> tuple[int, float, list[Query]]:
    """The dashboard's queries on a ledger of ``attempts``; ``keep`` names a database that
    is filled once and kept, so the queries can be timed again later (on a quieter machine)
    without filling it anew."""
    if keep is None:
        with database(admin) as url:
            return _dashboard(url, attempts, repeat)
    url = f"{admin.rpartition('/')[0]}/{keep}"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (keep,)).fetchone():
            conn.execute(f'CREATE DATABASE "{keep}"')
    return _dashboard(url, attempts, repeat)


def _dashboard(url: str, attempts: int, repeat: int) -> tuple[int, float, list[Query]]:
    PostgresStore(url).close()  # the schema
    fill_seconds = 0.0
    with psycopg.connect(url) as conn:
        filled = conn.execute("SELECT EXISTS (SELECT 1 FROM attempts)").fetchone()
    if not (filled and filled[0]):
        started = time.perf_counter()
        fill_history(url, attempts)
        fill_seconds = time.perf_counter() - started
    store = PostgresStore(url, notify=False)
    try:
        total, queries = dashboard_queries(store, repeat)
    finally:
        store.close()
    return total, fill_seconds, queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--only", default="throughput,latency,dashboard")
    parser.add_argument("--pg", default=ADMIN, help="an admin URL of the PostgreSQL server")
    parser.add_argument(
        "--keep-db",
        metavar="NAME",
        help="dashboard: fill this database once and keep it (filled already: time it again)",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="syndicate-bench-scale-") as tmp, SinkProcess() as sink:
        folder = Path(tmp)
        for kind in ("throughput", "latency"):
            if kind not in only:
                continue
            rows: list[Row] = []
            cases = [("SQLite", 1)] + [("PostgreSQL", n) for n in counts]
            for i, (ledger, n) in enumerate(cases):
                where = folder / f"{kind}-{i}"
                if ledger == "SQLite":
                    url = f"sqlite:///{where / 'ledger.db'}"
                    rows.append(_one(kind, where, sink.url, url, ledger, n, args))
                else:
                    with database(args.pg) as url:
                        rows.append(_one(kind, where, sink.url, url, ledger, n, args))
                print(_line(kind, rows[-1]), flush=True)
        if "dashboard" in only:
            total, fill, queries = dashboard(args.pg, args.attempts, keep=args.keep_db)
            print(f"dashboard on PostgreSQL: {total:,} attempts (filled in {fill:.0f}s)")
            for q in queries:
                print(f"| {q.name} | {q.rows:,} | {q.median_ms:.1f} | {q.max_ms:.1f} |")
    return 0


def _one(
    kind: str, where: Path, base: str, url: str, ledger: str, n: int, args: argparse.Namespace
) -> Row:
    if kind == "throughput":
        return throughput(where, base, url, ledger, n, args.notices)
    return latency(where, base, url, ledger, n, args.rate, args.seconds)


def _line(kind: str, r: Row) -> str:
    if kind == "throughput":
        return f"| {r.ledger} | {r.workers} | {r.deliveries:,} | {r.seconds:.1f} | {r.rate:,.0f} |"
    return f"| {r.ledger} | {r.workers} | {r.deliveries:,} | {r.p50_ms:.0f} | {r.p99_ms:.0f} |"


if __name__ == "__main__":
    sys.exit(main())
