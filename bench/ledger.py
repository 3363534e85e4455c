"""Big ledgers, built fast with SQL, and what the engine does with them.

``fill_backlog`` and ``fill_history`` are SETUP ONLY: they write rows straight
into the SQLite schema (src/syndicate/store/sqlite_schema.sql) because
enqueueing a million notices one durable commit at a time would measure the
setup, not the scenario. What is measured goes through the engine: the
worker drains the backlog; the store's own read methods answer the queries.
"""

from __future__ import annotations

import multiprocessing
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syndicate.notice import Notice
from syndicate.store.base import (
    AttemptFilter,
    DeliveryFilter,
    DeliveryState,
    Outcome,
    Store,
    idempotency_key,
)
from syndicate.store.sqlite import SqliteStore
from syndicate.syndicator import Syndicator

from . import workload

CATEGORIES = ["construction", "procurement", "land_mineral", "state_property", "work_news"]


def _schema(path: Path) -> None:
    SqliteStore(path).close()  # the store creates its own schema


def fill_backlog(config: Path, deliveries: int) -> None:
    """SETUP: ``deliveries`` pending deliveries (deliveries / 5 notices × 5 channels)."""
    path = config.parent / "ledger.db"
    _schema(path)
    template = Notice.parse(workload.notice(0, "BACKLOG")).canonical_json()
    notices = deliveries // workload.CHANNELS
    now = time.time()
    day = time.strftime("%Y-%m-%d", time.localtime(now - 3600))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        for i in range(notices):
            nid = f"BACKLOG-{i:07d}"
            content = template.replace("BACKLOG-0000000", nid)
            pk = db.execute(
                "INSERT INTO notices (id, version, category, notice_type, region_code, title, "
                "digest, content, publish_at, publish_day, accepted_at) VALUES "
                "(?,1,'construction','tender','441600','backlog', ?, ?, ?, ?, ?)",
                (nid, f"{i:064x}", content, now - 3600, day, now),
            ).lastrowid
            db.executemany(
                "INSERT INTO deliveries (notice_pk, channel, idempotency_key, state, "
                "next_attempt_at, updated_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                [
                    (pk, f"ch{c}", idempotency_key(nid, 1, f"ch{c}"), now, now)
                    for c in range(workload.CHANNELS)
                ],
            )
        # The running counts accept() keeps, so the worker's delivered tallies land somewhere.
        db.execute(
            """
            INSERT INTO tallies (day, category, channel, routed, delivered)
            SELECT publish_day, category, '', COUNT(*), 0 FROM notices GROUP BY 1, 2
            UNION ALL
            SELECT n.publish_day, n.category, d.channel, COUNT(*), 0
            FROM deliveries d JOIN notices n ON n.pk = d.notice_pk GROUP BY 1, 2, 3
            """
        )
        db.execute("COMMIT")
    finally:
        db.close()


@dataclass(frozen=True)
class Drain:
    deliveries: int
    delivered: int
    seconds: float
    peak_rss_mb: float


def _drain_child(config: str, out: Any) -> None:
    """In a fresh process: run the worker until nothing is due; report peak RSS."""
    syn = Syndicator.from_config(config, registry=workload.registry())
    started = time.perf_counter()
    syn.run(once=True)
    # A retry scheduled for later is waited for: the drain ends when nothing is left.
    while (due := syn.store.next_due()) is not None and time.perf_counter() - started < 600:
        time.sleep(max(0.0, due - time.time()))
        syn.run(once=True)
    seconds = time.perf_counter() - started
    delivered = sum(n for (_, s), n in syn.store.counts().items() if s is DeliveryState.delivered)
    failures = {
        f"{a.error_class}: {a.error_message}"
        for a in syn.store.attempts(AttemptFilter(outcome=Outcome.transient, limit=20))
    }
    if failures:
        # A drain that did not deliver everything says why, rather than a lower number.
        print("drain: transient failures: " + "; ".join(sorted(failures)), file=sys.stderr)
    syn.close()
    # ru_maxrss is in KiB on Linux.
    out.send((delivered, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def drain(folder: Path, base: str, deliveries: int, concurrency: int) -> Drain:
    config = workload.write_config(folder, workload.channel_urls(base), concurrency=concurrency)
    fill_backlog(config, deliveries)
    ctx = multiprocessing.get_context("spawn")
    mine, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_drain_child, args=(str(config), theirs))
    child.start()
    theirs.close()
    delivered, seconds, rss = mine.recv()
    child.join()
    return Drain(deliveries, delivered, seconds, rss)


# --- ledger reads -------------------------------------------------------------


def fill_history(path: Path, attempts: int, year: int = 2025) -> None:
    """SETUP: a year of history, ``attempts`` attempts over attempts × 0.95 deliveries.

    Every notice goes to the five channels; about 5% of deliveries needed a
    second attempt after a transient error, 1% failed permanently, spread
    over every channel (the moduli are prime to 5).
    """
    _schema(path)
    start = time.mktime((year, 1, 1, 0, 0, 0, 0, 0, 0))
    span = 365 * 86400.0
    deliveries = int(attempts / 1.05)
    notices = max(1, deliveries // workload.CHANNELS)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("BEGIN")
        db.execute(
            f"""
            WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < {notices})
            INSERT INTO notices (pk, id, version, category, notice_type, region_code, title,
                                 digest, content, publish_at, publish_day, accepted_at)
            SELECT i + 1, printf('HIST-%07d', i), 1,
                   CASE i % 5 WHEN 0 THEN 'construction' WHEN 1 THEN 'procurement'
                     WHEN 2 THEN 'land_mineral' WHEN 3 THEN 'state_property'
                     ELSE 'work_news' END,
                   'tender', '441600', printf('notice %d', i), printf('%064d', i), '{{}}',
                   {start} + i * {span / notices},
                   date({start} + i * {span / notices}, 'unixepoch', '+8 hours'),
                   {start} + i * {span / notices}
            FROM k
            """
        )
        db.execute(
            f"""
            WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k
                                   WHERE i + 1 < {notices * 5})
            INSERT INTO deliveries (id, notice_pk, channel, idempotency_key, state, attempts,
                                    tries, next_attempt_at, fence, remote_id, last_error,
                                    updated_at)
            SELECT i + 1, i / 5 + 1, 'ch' || (i % 5), printf('HIST-%07d.v1.ch%d', i / 5, i % 5),
                   CASE WHEN i % 101 = 7 THEN 'failed' ELSE 'delivered' END,
                   CASE WHEN i % 21 = 3 AND i % 101 != 7 THEN 2 ELSE 1 END,
                   CASE WHEN i % 21 = 3 AND i % 101 != 7 THEN 2 ELSE 1 END,
                   {start} + (i / 5) * {span / notices} + 1, 1,
                   CASE WHEN i % 101 = 7 THEN NULL ELSE printf('r%d', i) END,
                   CASE WHEN i % 101 = 7 THEN 'PermanentDeliveryError: HTTP 422' END,
                   {start} + (i / 5) * {span / notices} + 1
            FROM k
            """
        )
        # First attempts: one per delivery; second attempts for every 20th.
        db.execute(
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
                   remote_id, printf('%064x', id)
            FROM deliveries ORDER BY id
            """
        )
        db.execute(
            """
            INSERT INTO attempts (delivery_id, number, worker, fence, started_at, finished_at,
                                  outcome, status, remote_id, payload_sha256)
            SELECT id, 2, 'bench', 1, updated_at - 0.05, updated_at, 'delivered', '200',
                   remote_id, printf('%064x', id)
            FROM deliveries WHERE attempts = 2 ORDER BY id
            """
        )
        # The running counts the store keeps as it accepts and delivers.
        db.execute(
            """
            INSERT INTO tallies (day, category, channel, routed, delivered)
            SELECT publish_day, category, '', COUNT(*), 0 FROM notices GROUP BY 1, 2
            UNION ALL
            SELECT n.publish_day, n.category, d.channel, COUNT(*),
                   SUM(d.state = 'delivered')
            FROM deliveries d JOIN notices n ON n.pk = d.notice_pk GROUP BY 1, 2, 3
            """
        )
        db.execute(
            """
            INSERT INTO attempt_tallies (minute, channel, outcome, n)
            SELECT CAST(a.started_at / 60 AS INTEGER), d.channel, a.outcome, COUNT(*)
            FROM attempts a JOIN deliveries d ON d.id = a.delivery_id GROUP BY 1, 2, 3
            """
        )
        db.execute(
            """
            INSERT INTO channel_failures (channel, attempt_id)
            SELECT d.channel, MAX(a.id) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
            WHERE a.outcome IN ('transient', 'permanent') GROUP BY d.channel
            """
        )
        db.execute("COMMIT")
        db.execute("ANALYZE")
    finally:
        db.close()


@dataclass(frozen=True)
class Query:
    name: str
    rows: int
    median_ms: float
    max_ms: float


def _time(name: str, fn: Callable[[], int], repeat: int) -> Query:
    rows = 0
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = fn()
        times.append((time.perf_counter() - started) * 1000)
    return Query(name, rows, statistics.median(times), max(times))


def reads(folder: Path, attempts: int, repeat: int = 5) -> tuple[int, list[Query]]:
    """Build a ledger of ``attempts`` attempts, then time the dashboard's queries on it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "history.db"
    fill_history(path, attempts)
    store = SqliteStore(path)
    try:
        return dashboard_queries(store, repeat)
    finally:
        store.close()


PAGE = 50  # what the dashboard and GET /v1/deliveries show at a time


def dashboard_queries(store: Store, repeat: int = 5) -> tuple[int, list[Query]]:
    """The attempts in ``store`` (a filled history) and the dashboard's queries timed on it.

    The same store methods on both backends: what SQLite and PostgreSQL answer is
    measured alike.
    """
    total = int(store.raw_rows("SELECT COUNT(*) AS n FROM attempts")[0]["n"])
    n_notices = int(store.raw_rows("SELECT COUNT(*) AS n FROM notices")[0]["n"])
    middle = f"HIST-{n_notices // 2:07d}"
    failures = AttemptFilter(outcome=Outcome.permanent, newest_first=True, limit=100)
    return total, [
        _time("one notice's deliveries", lambda: len(store.deliveries(notice_id=middle)), repeat),
        *_every_page(store, DeliveryFilter(channel="ch2", state=DeliveryState.failed)),
        _time(
            "a channel's delivered, first 100",
            lambda: len(store.deliveries(channel="ch2", state=DeliveryState.delivered, limit=100)),
            repeat,
        ),
        _time("the last 100 failures", lambda: len(list(store.attempts(failures))), repeat),
        _time(
            "counts by category × channel, a year",
            lambda: len(store.year_counts(2025).delivered),
            repeat,
        ),
    ]


def _every_page(store: Store, filter: DeliveryFilter) -> list[Query]:
    """A channel's failed deliveries as the dashboard reads them: page after page by cursor.

    Two rows: the first page, and every page to the last (rows: all of them).
    """
    times: list[float] = []
    rows, before = 0, None
    while True:
        started = time.perf_counter()
        page = store.delivery_page(filter, before, PAGE)
        times.append((time.perf_counter() - started) * 1000)
        rows += len(page)
        if len(page) < PAGE:
            break
        before = page[-1].id
    name = "a channel's failed deliveries"
    first = Query(f"{name}, first page of {PAGE}", min(rows, PAGE), times[0], times[0])
    every = Query(
        f"{name}, each of {len(times)} pages of {PAGE}",
        rows,
        statistics.median(times),
        max(times),
    )
    return [first, every]
