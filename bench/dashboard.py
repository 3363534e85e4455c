"""Every dashboard page against a ledger of a million attempts: server time, median of N.

``python -m bench.dashboard [--attempts 1000000] [--repeat 5] [--keep DIR]``

The ledger is built with ``ledger.fill_history`` (SETUP, SQL straight into
the schema). Pages are asked through the ASGI app in-process, signed in as a
browser would be, so the time is the server's: routing, auth, the read
models' queries and the template, without the network.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from syndicate.syndicator import Syndicator
from syndicate.tokens import Scope
from syndicate.web.app import create_app
from syndicate.web.dashboard.session import COOKIE, issue

from . import ledger, workload

TARGET_MS = 200.0


@dataclass(frozen=True)
class PageTime:
    path: str
    status: int
    bytes: int
    median_ms: float
    max_ms: float


def build(folder: Path, attempts: int) -> Path:
    """SETUP: five channels ch0…ch4 and a year (2025) of history in their ledger."""
    config = workload.write_config(
        folder, workload.channel_urls("http://127.0.0.1:9"), concurrency=1
    )
    ledger.fill_history(folder / "ledger.db", attempts)
    return config


def _client(syn: Syndicator) -> httpx.AsyncClient:
    """A signed-in browser, talking to the app in-process."""
    found = [t for t in syn.tokens.list() if t.name == "bench" and t.revoked_at is None]
    record = found[0] if found else syn.tokens.create("bench", [Scope.read]).record
    cookie, _ = issue(record, time.time())
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(syn)),
        base_url="http://bench",
        cookies={COOKIE: cookie},
    )


async def _measure(syn: Syndicator, paths: list[str], repeat: int) -> list[PageTime]:
    results = []
    async with _client(syn) as client:
        for path in paths:
            times, status, size = [], 0, 0
            for _ in range(repeat):
                started = time.perf_counter()
                r = await client.get(path)
                times.append((time.perf_counter() - started) * 1000)
                status, size = r.status_code, len(r.content)
            results.append(PageTime(path, status, size, statistics.median(times), max(times)))
    return results


def _next_cursor(syn: Syndicator, path: str, hops: int) -> str:
    """The cursor ``hops`` pages deep into a list: the page a patient operator reaches."""

    async def walk() -> str:
        url = path
        async with _client(syn) as client:
            for _ in range(hops):
                page = (await client.get(url)).text
                found = re.search(r'rel="next" href="([^"]+)"', page)
                if found is None:
                    break
                url = path.split("?")[0] + found.group(1).replace("&amp;", "&")
        return url

    return asyncio.run(walk())


def run(folder: Path, attempts: int, repeat: int) -> tuple[int, list[PageTime]]:
    config = build(folder, attempts)
    with Syndicator.from_config(config) as syn:
        total = int(syn.store._read("SELECT COUNT(*) FROM attempts")[0][0])  # SETUP check
        middle = f"HIST-{total // 11:07d}"
        paths = [
            "/",
            "/overview/live",
            "/notices",
            "/notices?category=land_mineral",
            "/notices?state=partly_published",
            "/notices?q=notice%204242",
            "/notices?channel=ch3&since=2025-06-01&until=2025-06-30",
            _next_cursor(syn, "/notices", 20),
            f"/notices/{middle}",
            "/attempts",
            "/attempts?channel=ch2&outcome=transient",
            "/attempts?error_class=PermanentDeliveryError&since=2025-03-01&until=2025-03-31",
            _next_cursor(syn, "/attempts", 20),
            "/failures",
            "/report?year=2025",
            "/report.csv?year=2025",
        ]
        return total, asyncio.run(_measure(syn, paths, repeat))


def table(total: int, pages: list[PageTime]) -> str:
    lines = [
        f"### Dashboard pages: {total:,} attempts, server time in-process, median of the runs",
        "",
        "| page | status | bytes | median ms | max ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in pages:
        shown = p.path if len(p.path) < 70 else p.path[:60] + "…"
        lines.append(
            f"| `{shown}` | {p.status} | {p.bytes:,} | {p.median_ms:.1f} | {p.max_ms:.1f} |"
        )
    worst = max(pages, key=lambda p: p.median_ms)
    met = "yes" if worst.median_ms < TARGET_MS else "**no**"
    lines += ["", f"Every page < {TARGET_MS:.0f} ms: {met} (slowest {worst.median_ms:.1f} ms)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--attempts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the ledger in this folder and keep it")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="syndicate-dashboard-bench-"))
    try:
        total, pages = run(folder, args.attempts, args.repeat)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(total, pages))
    bad = [p for p in pages if p.status != 200]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
