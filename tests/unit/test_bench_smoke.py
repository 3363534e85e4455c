"""The benchmark harness runs end to end at its tiniest size, so it cannot rot.

No timing is asserted: only that every scenario ran, produced its table rows
and delivered what it was given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.long


def test_bench_tiny_produces_every_table(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--size", "tiny", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    for row in (
        "| syndicate (cms_http, SQLite ledger) |",
        "| Apprise (json://, no ledger) |",
        "| bare httpx.AsyncClient |",
        "| bare aiohttp |",
        "syndicate / Apprise =",
        "syndicate / aiohttp =",
        "| 32 |",
        "| syndicate | fixed 100/s |",
        "| syndicate | 80% of drain capacity |",
        "| syndicate | 80% of end-to-end capacity |",
        "(c) CPU per delivery ≤ 0.35 ms",
        "| ch4 black-holed |",
        "| one notice's deliveries |",
        "| counts by category × channel, a year |",
        "(e) each ledger query < 50 ms",
        "### HTTP API: POST /v1/notices",
        "| GET /v1/attempts (newest 100) |",
        "(g) every read endpoint p99 < 50 ms",
    ):
        assert row in table, f"{row!r} missing from:\n{table}"

    data = json.loads(results.read_text("utf-8"))
    size = data["size"]
    expected = size["notices"] * 5
    for name, runs in data["throughput"]["runs"].items():
        assert [r["delivered"] for r in runs] == [expected] * len(runs), name
    assert data["latency"]["capacity"] > 0
    # Found by bisection below the drain capacity, one probe a step, each reported.
    assert 0 < data["latency"]["end_to_end_capacity"] <= data["latency"]["capacity"]
    assert len(data["latency"]["probes"]) == size["capacity_steps"]
    for name, run in data["latency"]["runs"].items():
        assert run["deliveries"] == int(run["asked"] * size["seconds"]) * 5, name
    assert all(rate > 0 for rate in data["isolation"]["black_holed_rates"])
    assert [d["delivered"] for d in data["backlog"]] == list(size["backlog"])
    assert data["ledger"]["attempts"] >= size["attempts"] * 0.99
    assert data["ledger"]["queries"][0]["rows"] == 5  # one notice, five channels
    enqueued = data["api"]["enqueue"]
    assert enqueued["notices"] == size["api_notices"]
    assert enqueued["deliveries"] == size["api_notices"] * 5
    assert {r["name"]: r["rows"] for r in data["api"]["reads"]}["GET /v1/notices/{id}"] == 1
