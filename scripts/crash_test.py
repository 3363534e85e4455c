#!/usr/bin/env python3
"""Kill the worker with SIGKILL at random moments and prove the ledger's guarantees still hold.

N notices are routed to five cms_http channels on loopback: four on an HTTP
receiver that honours the Idempotency-Key (it publishes a key once and counts
the repeats), one on a receiver that ignores it (every request is a new
publication). `python -m syndicate run` is started as a subprocess, killed
with SIGKILL K times at random moments and restarted each time, while the
notices are still being enqueued through the Python API. Then a last worker
runs until every delivery has ended, and the ledger and the receivers are
checked:

  integrity   PRAGMA integrity_check is "ok"
  I1          every accepted notice has one delivery per routed channel
  I2          one terminal state per delivery; the attempts history matches
              deliveries.attempts, numbered 1..n, one delivered attempt, last
  I3          no attempt from a stale lease: fences strictly increase per delivery
  I4          nothing left pending or in flight
  I5          one idempotency key per delivery on every request the receivers saw
  I6          notices x routed channels = deliveries by state
  I8          the hash chain verifies: every row is the one its link recorded
  receivers   no duplicate publication where the key is honoured; where it is
              not, at most one duplicate per kill (that channel runs one at a time)

    scripts/crash_test.py --notices 2000 --kills 20 [--seed 7] [--keep DIR]

Exits 0 when every check holds, 1 otherwise (each failed check on one line).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from syndicate.audit.verify import verify  # noqa: E402
from syndicate.demo.http_sink import HttpSink, RecordedRequest  # noqa: E402
from syndicate.store import open_store  # noqa: E402
from syndicate.syndicator import Syndicator  # noqa: E402

HONOURING = ("site", "portal", "county", "archive")
FORGETFUL = "screen"
CHANNELS = (*HONOURING, FORGETFUL)
START_KILLS = 0.25  # the share of kills timed from the worker's start rather than its first attempt


class ForgetfulSink(HttpSink):
    """A receiver that ignores the Idempotency-Key: every request is published anew."""

    def _receipt(self, request: RecordedRequest) -> bytes:
        anonymous = RecordedRequest(
            request.method,
            request.path,
            {k: v for k, v in request.headers.items() if k != "idempotency-key"},
            request.body,
            request.time,
        )
        return super()._receipt(anonymous)


@dataclass
class Report:
    """What a crash run did and which checks failed (empty: all held)."""

    notices: int
    kills: int
    seed: int
    seconds: float = 0.0
    kills_during_delivery: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    repeated_keys: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0  # publications beyond the first where the key is ignored
    explained_by_doubt: int = 0  # of those, sent again after an attempt recorded in doubt
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def config_text(honouring: str, forgetful: str, store: str = "ledger.db") -> str:
    channels = "".join(
        f"""
  {name}:
    adapter: cms_http
    url: {honouring}/{name}
    concurrency: 4
"""
        for name in HONOURING
    )
    return f"""
store: {{url: "{store}"}}
worker: {{lease: 2s, poll_interval: 50ms, grace: 1s, batch: 50}}
defaults:
  timeout: 1500ms
  retry: {{max_attempts: 100, initial_delay: 100ms, multiplier: 1.5, max_delay: 1s, jitter: 0s}}
channels:{channels}
  {FORGETFUL}:
    adapter: cms_http
    url: {forgetful}/{FORGETFUL}
    concurrency: 1
routes:
  - channels: [{", ".join(CHANNELS)}]
"""


def notice(i: int) -> dict[str, Any]:
    return {
        "id": f"HYCR-2026-{i:05d}",
        "version": 1,
        "category": "construction",
        "notice_type": "tender",
        "project_code": f"HYCR2026-{i:05d}",
        "title": f"河源市崩溃测试工程第{i}标段施工招标公告",
        "body_html": f"<p>河源市崩溃测试工程第{i}标段已具备招标条件，现公开招标。</p>",
        "summary": f"崩溃测试第{i}标段",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": "2024-01-01T09:00:00+08:00",
        "valid_until": "2036-12-18T09:30:00+08:00",
        "construction": {"max_price": {"value": f"{1000000 + i}.00", "unit": "元"}},
    }


def _worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    path = str(ROOT / "src")
    env["PYTHONPATH"] = path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _start_worker(folder: Path, n: int) -> subprocess.Popen[bytes]:
    with (folder / f"worker-{n:02d}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run", "-q"],
            cwd=folder,
            env=_worker_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def _attempt_count(db_path: Path) -> int:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return int(db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
    finally:
        db.close()


def _wait_for_attempts(
    db_path: Path, before: int, enqueuer: threading.Thread, timeout: float
) -> None:
    """Until the ledger holds more than ``before`` attempts, or nothing is left to deliver."""
    deadline = time.monotonic() + timeout
    while _attempt_count(db_path) <= before and time.monotonic() < deadline:
        if not enqueuer.is_alive() and not _unfinished(db_path):
            return
        time.sleep(0.05)


def _unfinished(db_path: Path) -> int:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'in_flight')"
        ).fetchone()
        return int(row[0])
    finally:
        db.close()


def run(
    notices: int,
    kills: int,
    *,
    seed: int | None = None,
    folder: Path | None = None,
    max_wait: float = 600.0,
    log: Any = None,
) -> Report:
    """One crash run in ``folder`` (a fresh temporary one by default)."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report = Report(notices, kills, seed)
    own = folder is None
    tmp = tempfile.TemporaryDirectory(prefix="syndicate-crash-") if own else None
    folder = Path(tmp.name) if tmp is not None else Path(folder or ".")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        if log is not None:
            print(text, file=log, flush=True)

    honouring, forgetful = HttpSink().start(), ForgetfulSink().start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        (folder / "channels.yaml").write_text(
            config_text(honouring.url, forgetful.url), encoding="utf-8"
        )
        db_path = folder / "ledger.db"
        accepted: list[str] = []
        enqueue_errors: list[BaseException] = []

        def enqueue_all() -> None:
            try:
                with Syndicator.from_config(folder / "channels.yaml", env={}) as syndicator:
                    for i in range(notices):
                        result = syndicator.enqueue(notice(i))
                        assert result.channels == list(CHANNELS), result.channels
                        accepted.append(result.notice_id)
            except BaseException as exc:  # reported as a failure below
                enqueue_errors.append(exc)

        # The ledger exists before the first worker opens it.
        Syndicator.from_config(folder / "channels.yaml", env={}).close()
        enqueuer = threading.Thread(target=enqueue_all, name="enqueue", daemon=True)
        enqueuer.start()

        for k in range(kills):
            worker = _start_worker(folder, k)
            before = _attempt_count(db_path)
            if rng.random() < START_KILLS:
                # Some kills at a random moment after the start: on a fast machine during
                # delivery, on a slow one while the worker still imports or opens the ledger.
                time.sleep(rng.uniform(0.3, 4.0))
            else:
                # Most mid-delivery, whatever the machine's load makes of the start-up: at a
                # random moment once the worker has recorded an attempt.
                _wait_for_attempts(db_path, before, enqueuer, max_wait)
                time.sleep(rng.uniform(0.0, 2.0))
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            after = _attempt_count(db_path)
            if after > before:
                report.kills_during_delivery += 1
            say(f"kill {k + 1}/{kills}: {after} attempts recorded so far")
            worker = None

        enqueuer.join(timeout=max_wait)
        if enqueuer.is_alive():
            report.failures.append("enqueue did not finish")
        for exc in enqueue_errors:
            report.failures.append(f"enqueue failed: {exc!r}")

        worker = _start_worker(folder, kills)
        deadline = time.monotonic() + max_wait
        while _unfinished(db_path) and time.monotonic() < deadline:
            if worker.poll() is not None:
                report.failures.append(f"the last worker exited with {worker.returncode}")
                break
            time.sleep(0.1)
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                code = worker.wait()
                report.failures.append("the last worker did not stop on SIGTERM")
            if code != 0:
                report.failures.append(f"the last worker exited with {code} on SIGTERM")
        worker = None
        for path in sorted(folder.glob("worker-*.log")):
            if "Traceback" in path.read_text(encoding="utf-8", errors="replace"):
                report.failures.append(f"{path.name} holds a traceback")

        check(
            sqlite_query(db_path),
            accepted,
            honouring,
            forgetful,
            report,
            store_url=f"sqlite:///{db_path}",
        )
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        honouring.stop()
        forgetful.stop()
        if tmp is not None:
            tmp.cleanup()
    report.seconds = time.monotonic() - started
    return report


Query = Callable[[str], list[tuple[Any, ...]]]


def sqlite_query(db_path: Path) -> Query:
    """Plain SQL against the SQLite ledger; its integrity check comes first."""

    def query(sql: str) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(db_path)
        try:
            return [tuple(r) for r in db.execute(sql).fetchall()]
        finally:
            db.close()

    return query


def check(
    query: Query,
    accepted: list[str],
    honouring: HttpSink,
    forgetful: HttpSink,
    report: Report,
    *,
    store_url: str,
    sqlite: bool = True,
    duplicates_allowed: int | None = None,
) -> None:
    """Check the ledger and what the receivers saw; append each failure to ``report``."""
    fail = report.failures.append
    if sqlite:
        integrity = query("PRAGMA integrity_check")
        if integrity != [("ok",)]:
            fail(f"integrity_check: {integrity[:5]}")
    chained = open_store(store_url, notify=False)
    try:
        verification = verify(chained)
    finally:
        chained.close()
    if not verification.ok:
        fail(f"I8: {verification.findings[0].message}")

    notices = {r[0]: r[1] for r in query("SELECT pk, id FROM notices WHERE version = 1")}
    if sorted(notices.values()) != sorted(accepted) or len(accepted) != report.notices:
        fail(f"I1: {len(accepted)} accepted, {len(notices)} notices in the ledger")
    deliveries = query(
        "SELECT id, notice_pk, channel, idempotency_key, state, attempts, fence, remote_id "
        "FROM deliveries ORDER BY id"
    )
    per_notice: dict[int, list[str]] = defaultdict(list)
    for d in deliveries:
        per_notice[d[1]].append(d[2])
    for pk, notice_id in notices.items():
        if sorted(per_notice.get(pk, [])) != sorted(CHANNELS):
            fail(f"I1: {notice_id} has deliveries {sorted(per_notice.get(pk, []))}")
            break

    states = Counter(d[4] for d in deliveries)
    report.deliveries = dict(states)
    if set(states) != {"delivered"}:
        fail(f"I2/I4: deliveries by state {dict(states)}, expected all delivered")
    if states["in_flight"] or states["pending"]:
        fail(f"I4: {states['pending']} pending, {states['in_flight']} in flight")
    if len(notices) * len(CHANNELS) != sum(states.values()):
        fail(f"I6: {len(notices)} x {len(CHANNELS)} != {sum(states.values())} deliveries")

    attempts: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for a in query(
        "SELECT delivery_id, number, fence, outcome, remote_id FROM attempts ORDER BY id"
    ):
        attempts[a[0]].append(a)
    report.attempts = sum(len(v) for v in attempts.values())
    keys: dict[str, tuple[str, str]] = {}
    i2 = i3 = 0
    for d in deliveries:
        delivery_id, _, channel, key, state, counter, fence, remote_id = d
        keys[key] = (notices.get(d[1], "?"), channel)
        rows = attempts.get(delivery_id, [])
        numbers = [r[1] for r in rows]
        delivered = [r for r in rows if r[3] == "delivered"]
        if (
            numbers != list(range(1, counter + 1))
            or (state == "delivered" and (len(delivered) != 1 or rows[-1][3] != "delivered"))
            or (state == "delivered" and delivered[0][4] != remote_id)
        ):
            i2 += 1
            if i2 <= 3:
                fail(f"I2: {key} state {state} attempts={counter} history {rows}")
        fences = [r[2] for r in rows]
        if any(b <= a for a, b in itertools.pairwise(fences)) or (fences and fences[-1] > fence):
            i3 += 1
            if i3 <= 3:
                fail(f"I3: {key} fences {fences}, delivery fence {fence}")
    if i2 > 3:
        fail(f"I2: {i2} deliveries in all")
    if i3 > 3:
        fail(f"I3: {i3} deliveries in all")

    for sink, names in ((honouring, HONOURING), (forgetful, (FORGETFUL,))):
        by_key: dict[str, list[RecordedRequest]] = defaultdict(list)
        for request in sink.requests:
            channel = request.path.strip("/")
            key = request.headers.get("idempotency-key", "")
            by_key[key].append(request)
            report.requests[channel] = report.requests.get(channel, 0) + 1
            expected = keys.get(key)
            try:
                body_id = json.loads(request.body)["id"]
            except (ValueError, KeyError, TypeError):
                body_id = None  # a body cut short by a kill
            if expected is None or expected[1] != channel or body_id not in (None, expected[0]):
                fail(f"I5: {channel} got key {key!r} for notice {body_id!r}")
                break
        for channel in names:
            wanted = {k for k, (_, ch) in keys.items() if ch == channel}
            seen = {k for k, rs in by_key.items() if rs[0].path.strip("/") == channel}
            if wanted - seen:
                fail(f"I5: {channel}: {len(wanted - seen)} deliveries never reached the receiver")
        repeats: Counter[str] = Counter()
        for rs in by_key.values():
            repeats[rs[0].path.strip("/")] += len(rs) - 1
        report.repeated_keys.update(repeats)

    published = honouring.published()
    wanted_honoured = sum(1 for _, ch in keys.values() if ch in HONOURING)
    if len(published) != wanted_honoured:
        fail(
            f"receivers: {len(published)} publications where keys are honoured, "
            f"{wanted_honoured} deliveries"
        )
    # Where the key is ignored, a request sent again is published again. Sent again after
    # a kill (the attempt never recorded) is allowed once per kill; sent again after an
    # attempt recorded as in doubt (it timed out or was cut off once the request may have
    # gone out) is what in doubt means, and each such attempt explains one publication.
    by_notice: Counter[str] = Counter()
    for body in forgetful.published().values():
        try:
            by_notice[json.loads(body)["id"]] += 1
        except (ValueError, KeyError, TypeError):
            by_notice["?"] += 1
    in_doubt = Counter(
        {
            keys[r[0]][0]: int(r[1])
            for r in query(
                "SELECT d.idempotency_key, COUNT(*) FROM attempts a "
                "JOIN deliveries d ON d.id = a.delivery_id "
                f"WHERE d.channel = '{FORGETFUL}' AND a.error_class = 'InDoubtDeliveryError' "
                "GROUP BY d.idempotency_key"
            )
            if r[0] in keys
        }
    )
    duplicates = sum(n - 1 for n in by_notice.values() if n > 1)
    unexplained = sum(max(0, n - 1 - in_doubt[notice_id]) for notice_id, n in by_notice.items())
    report.duplicates = duplicates
    report.explained_by_doubt = duplicates - unexplained
    allowed = report.kills if duplicates_allowed is None else duplicates_allowed
    if unexplained > allowed:
        fail(
            f"receivers: {duplicates} duplicate publications at {FORGETFUL}, "
            f"{duplicates - unexplained} after attempts in doubt, {unexplained} more than "
            f"one per kill ({allowed})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--max-wait", type=float, default=600.0)
    args = parser.parse_args(argv)
    report = run(
        args.notices,
        args.kills,
        seed=args.seed,
        folder=args.keep,
        max_wait=args.max_wait,
        log=sys.stderr,
    )
    return conclude(
        report,
        f"{report.notices} notices x {len(CHANNELS)} channels, {report.kills} kills "
        f"({report.kills_during_delivery} during delivery), seed {report.seed}, "
        f"{report.seconds:.1f}s",
    )


def conclude(report: Report, headline: str) -> int:
    """Print what a run did and every failed check; the exit status (0: all held)."""
    print(headline)
    print(f"deliveries by state: {report.deliveries}; attempts: {report.attempts}")
    print(f"requests: {report.requests}; repeated keys: {report.repeated_keys}")
    print(
        f"duplicates where the key is ignored: {report.duplicates} "
        f"({report.explained_by_doubt} after attempts in doubt)"
    )
    for failure in report.failures:
        print(f"FAILED {failure}")
    print("ok" if report.ok else f"{len(report.failures)} checks failed")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
