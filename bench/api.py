"""The HTTP API under load: ``syndicate serve`` in its own process, clients over loopback.

``enqueue``: clients POST /v1/notices (5 routed channels each) while the
worker inside the same server delivers them to the sink. ``reads``: the read
endpoints against a ledger of a million attempts (built by ``ledger.fill_history``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

from syndicate.store.base import DeliveryState
from syndicate.syndicator import Syndicator
from syndicate.tokens import Scope

from . import ledger, workload


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(config: Path) -> str:
    with Syndicator.from_config(config, registry=workload.registry()) as syn:
        return syn.tokens.create("bench", [Scope.admin]).secret


@contextmanager
def serving(config: Path, *args: str) -> Iterator[str]:
    """``syndicate serve`` on a free port; SIGTERM at the end."""
    port = _free_port()
    command = [sys.executable, "-m", "syndicate", "-c", str(config), "serve"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--no-access-log", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate()
                raise RuntimeError(f"syndicate serve did not start: {err[-2000:]}")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass(frozen=True)
class Enqueue:
    notices: int
    clients: int
    batch: int  # notices per request (1: one object; more: a JSON array)
    apis: int  # API processes
    worker_apart: bool  # False: the worker in `serve`; True: `serve --no-worker` and `run`
    seconds: float
    rate: float  # notices accepted per second
    p50_ms: float
    p99_ms: float
    delivered_meanwhile: int  # deliveries the worker completed while the clients posted
    deliveries: int  # routed: notices × 5
    drained_seconds: float  # until every delivery was delivered


def enqueue(
    folder: Path,
    base: str,
    count: int,
    clients: int,
    concurrency: int,
    batch: int = 1,
    apis: int = 1,
    worker_apart: bool | None = None,
) -> Enqueue:
    """``count`` notices POSTed by ``clients`` concurrent clients; the worker runs meanwhile.

    ``batch`` > 1: the notices go ``batch`` to a request, as a JSON array (one transaction).
    ``worker_apart`` (the default when ``apis`` > 1): ``serve --no-worker [--workers N]``
    and a ``syndicate run`` of its own beside it, the layout the README gives for more than
    one process's worth of requests.
    """
    config = workload.write_config(folder, workload.channel_urls(base), concurrency=concurrency)
    token = _token(config)
    notices = [workload.notice(i, f"API{folder.name}") for i in range(count)]
    groups = [notices[i : i + batch] for i in range(0, count, batch)]
    bodies = [json.dumps(g if batch > 1 else g[0], ensure_ascii=False).encode() for g in groups]
    latencies: list[float] = []
    apart = apis > 1 if worker_apart is None else worker_apart
    layout = (("--no-worker",) if apart else ()) + (("--workers", str(apis)) if apis > 1 else ())
    worker: subprocess.Popen[bytes] | None = None
    if apart:
        worker = subprocess.Popen(
            [sys.executable, "-m", "syndicate", "-c", str(config), "run", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    with serving(config, *layout) as url:

        async def go() -> float:
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            # aiohttp, not httpx: httpx's client took about 1.9 ms of CPU per request here,
            # more than the server's whole request path, on the same two cores.
            async with aiohttp.ClientSession(
                url,
                headers=headers,
                connector=aiohttp.TCPConnector(limit=clients),
                timeout=aiohttp.ClientTimeout(total=60),
            ) as client:
                queue = iter(bodies)

                async def one_client() -> None:
                    for body in queue:
                        started = time.perf_counter()
                        async with client.post("/v1/notices", data=body) as answer:
                            text = await answer.text()
                        latencies.append(time.perf_counter() - started)
                        if answer.status != 201:
                            raise RuntimeError(f"POST answered {answer.status}: {text}")

                started = time.perf_counter()
                await asyncio.gather(*(one_client() for _ in range(clients)))
                return time.perf_counter() - started

        seconds = asyncio.run(go())
        with Syndicator.from_config(config, registry=workload.registry()) as syn:
            meanwhile = _delivered(syn)
            deadline = time.monotonic() + 600
            while _delivered(syn) < count * workload.CHANNELS and time.monotonic() < deadline:
                time.sleep(0.1)
            drained = seconds + (600 - (deadline - time.monotonic()))
    if worker is not None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return Enqueue(
        notices=count,
        clients=clients,
        batch=batch,
        apis=apis,
        worker_apart=apart,
        seconds=seconds,
        rate=count / seconds,
        p50_ms=_ms(latencies, 0.5),
        p99_ms=_ms(latencies, 0.99),
        delivered_meanwhile=meanwhile,
        deliveries=count * workload.CHANNELS,
        drained_seconds=drained,
    )


def _delivered(syn: Syndicator) -> int:
    return sum(n for (_, s), n in syn.store.counts().items() if s is DeliveryState.delivered)


@dataclass(frozen=True)
class Read:
    name: str
    rows: int
    p50_ms: float
    p99_ms: float


READS = (
    ("GET /v1/attempts (newest 100)", "/v1/attempts?limit=100", "items"),
    (
        "GET /v1/attempts?channel=ch3&outcome=permanent",
        "/v1/attempts?channel=ch3&outcome=permanent&limit=100",
        "items",
    ),
    (
        "GET /v1/attempts?error_class=TransientDeliveryError (24 h)",
        "/v1/attempts?error_class=TransientDeliveryError&since={since}&limit=100",
        "items",
    ),
    (
        "GET /v1/deliveries?channel=ch2&state=failed",
        "/v1/deliveries?channel=ch2&state=failed",
        "items",
    ),
    ("GET /v1/notices?text= (a title)", "/v1/notices?text={title}", "items"),
    ("GET /v1/notices/{id}", "/v1/notices/{id}", "versions"),
    ("GET /v1/channels", "/v1/channels", "channels"),
    ("GET /v1/report?year=2025", "/v1/report?year=2025", "channels"),
)


WARM_UP = 3
"""Requests of each endpoint before it is timed: the first ones pay for the server's own
start (lazy imports, the ledger's page cache), which is not the endpoint's cost."""


def reads(folder: Path, base: str, attempts: int, repeat: int) -> tuple[int, list[Read]]:
    """Each read endpoint ``repeat`` times, one after another, at ``attempts`` in the ledger."""
    config = workload.write_config(folder, workload.channel_urls(base), concurrency=4)
    ledger.fill_history(folder / "ledger.db", attempts)
    token = _token(config)
    with sqlite3.connect(folder / "ledger.db") as db:
        total = int(db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0])
        notice_id, title = db.execute(
            "SELECT id, title FROM notices ORDER BY pk LIMIT 1 "
            "OFFSET (SELECT COUNT(*) / 2 FROM notices)"
        ).fetchone()
    since = str(time.mktime((2025, 12, 31, 0, 0, 0, 0, 0, 0)))
    results = []
    with (
        serving(config, "--no-worker") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        for name, path, key in READS:
            path = path.replace("{since}", since).replace("{id}", notice_id)
            path = path.replace("{title}", title.replace(" ", "%20"))
            times: list[float] = []
            rows = 0
            for i in range(WARM_UP + repeat):
                started = time.perf_counter()
                answer = client.get(path)
                if i >= WARM_UP:
                    times.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text}")
                found = answer.json().get(key, [])
                rows = len(found) if isinstance(found, list) else 1
            results.append(Read(name, rows, _ms(times, 0.5), _ms(times, 0.99)))
    return total, results
