#!/usr/bin/env python3
"""Many workers and API processes on one PostgreSQL ledger, killed at random, the server
restarted mid-run.

A private PostgreSQL instance is made for the run (``initdb`` as the
``postgres`` user, its own port and folder), so restarting it disturbs
nothing else. N notices go to the five channels of scripts/crash_test.py
(four receivers honour the Idempotency-Key, one ignores it) while W worker
processes run. One notice in A + 1 is enqueued through the Python API, the
rest over HTTP through A API processes (``syndicate serve --no-worker``, each
on a port of its own, as on separate hosts), in batches; a batch that fails is
sent again, which enqueue makes harmless. The kills are spread over the
enqueueing: each time another share of the notices is in, a worker chosen at
random is killed with SIGKILL once it holds a lease (or after a few seconds)
and started again, now and then an API process too; half-way the database
server is restarted, and whatever starts meanwhile waits for it
(``--wait-for-ledger``). Then the workers finish what is left and stop, and
the same checks as the single-worker crash test run against the PostgreSQL
ledger:

  I1–I6        nothing lost, one end per delivery, fences strictly increase
               (no two live owners), nothing stuck, one key per delivery,
               counts add up
  receivers    no duplicate where the key is honoured; where it is not, at most
               one per worker kill (the server restart counts as one)
  logs         no traceback in any worker's or API process's log

    scripts/scale_kill_test.py --notices 10000 --workers 4 --apis 2 --kills 20 \\
        [--seed 7] [--keep DIR]

Exits 0 when every check holds, 1 otherwise (each failed check on one line).
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PATIENCE = 300.0  # seconds a batch may take to get through an API that is down or restarting
BATCH = 10  # notices per POST /v1/notices
LEASE_WAIT = 5.0  # seconds a kill waits for its victim to hold a lease
OK = ("accepted", "already accepted")
sys.path.insert(0, str(ROOT / "scripts"))

import crash_test  # noqa: E402
from crash_test import (  # noqa: E402
    CHANNELS,
    ForgetfulSink,
    Report,
    check,
    conclude,
    config_text,
    notice,
)

from syndicate.demo.http_sink import HttpSink  # noqa: E402
from syndicate.syndicator import Syndicator  # noqa: E402
from syndicate.tokens import Scope  # noqa: E402


def _pg_bin(name: str) -> str:
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install PostgreSQL (apt-get install postgresql-15)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ScaleReport(Report):
    """A crash report that also counts the API processes killed."""

    api_kills: int = 0


class PrivateServer:
    """A PostgreSQL instance of our own, in a folder of our own, on a port of our own."""

    def __init__(self) -> None:
        # A folder of its own under /tmp: the postgres user may not reach the run's folder.
        self.home = Path(tempfile.mkdtemp(prefix="syndicate-pg-"))
        self.home.chmod(0o755)
        self.folder = self.home / "pgdata"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if self._as_postgres:  # initdb and the server refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-500:]}")

    def start(self) -> None:
        self.folder.mkdir(parents=True)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self._run(_pg_bin("initdb"), "-D", str(self.folder), "-A", "trust", "-U", "postgres")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.folder),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            action,
            *extra,
        )

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if (self.folder / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.home, ignore_errors=True)


def _start(folder: Path, name: str, *command: str) -> subprocess.Popen[bytes]:
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", *command],
            cwd=folder,
            env=crash_test._worker_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def _start_worker(folder: Path, n: int) -> subprocess.Popen[bytes]:
    return _start(folder, f"worker-{n:03d}", "run", "-q", "--wait-for-ledger", "120")


def _wait_until_leasing(url: str, pid: int, timeout: float) -> bool:
    """Whether the worker process ``pid`` holds a lease, waiting up to ``timeout`` for one."""
    owner = f"%:{pid}:%"  # worker names are host:pid:random
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                found = conn.execute(
                    "SELECT 1 FROM deliveries WHERE state = 'in_flight' AND lease_owner LIKE %s "
                    "LIMIT 1",
                    (owner,),
                ).fetchone()
            if found is not None:
                return True
        except psycopg.Error:
            pass  # the server restarting
        time.sleep(0.2)
    return False


class Api:
    """One ``syndicate serve --no-worker`` on a port of its own, started again after each kill."""

    def __init__(self, folder: Path, index: int) -> None:
        self.folder, self.index, self.port = folder, index, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        self.process = _start(
            self.folder,
            f"api-{self.index}-{self.starts:02d}",
            "serve",
            "--no-worker",
            "--no-access-log",
            "--port",
            str(self.port),
            "--wait-for-ledger",
            "120",
        )
        return self.process


def _enqueue_over_http(api: Api, token: str, numbers: range, accepted: list[str]) -> None:
    """POST the notices to ``api`` in batches, each until it answers 200 or 201, whatever
    happens to the process meanwhile (a batch sent again is accepted once)."""
    with httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {token}"}) as client:
        for start in range(0, len(numbers), BATCH):
            batch = [notice(i) for i in numbers[start : start + BATCH]]
            deadline = time.monotonic() + PATIENCE
            while True:
                try:
                    answer = client.post(f"{api.url}/v1/notices", json=batch)
                    if answer.status_code in (200, 201):
                        results = answer.json()["results"]
                        bad = [r for r in results if r["status"] not in OK]
                        if bad:
                            raise RuntimeError(f"enqueue over HTTP: {bad[:3]}")
                        accepted += [r["id"] for r in results]
                        break
                    if answer.status_code < 500:
                        raise RuntimeError(f"HTTP {answer.status_code} {answer.text[:500]}")
                except httpx.TransportError:
                    pass  # killed, starting, or not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"notices {batch[0]['id']}… could not be enqueued over HTTP")
                time.sleep(0.2)


def run(
    notices: int,
    workers: int,
    kills: int,
    *,
    apis: int = 2,
    seed: int | None = None,
    folder: Path | None = None,
    max_wait: float = 900.0,
    log: Any = None,
) -> ScaleReport:
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report = ScaleReport(notices, kills, seed)
    tmp = tempfile.TemporaryDirectory(prefix="syndicate-scale-") if folder is None else None
    folder = Path(tmp.name) if tmp is not None else Path(folder or ".")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        if log is not None:
            print(text, file=log, flush=True)

    server = PrivateServer()
    honouring, forgetful = HttpSink().start(), ForgetfulSink().start()
    running: list[subprocess.Popen[bytes]] = []
    fronts: list[Api] = []
    try:
        server.start()
        say(f"PostgreSQL on port {server.port}")
        url = server.url
        (folder / "channels.yaml").write_text(
            config_text(honouring.url, forgetful.url, store=url), encoding="utf-8"
        )
        accepted: list[str] = []
        errors: list[BaseException] = []

        def enqueue_all() -> None:
            try:
                with Syndicator.from_config(folder / "channels.yaml", env={}) as syndicator:
                    for i in range(0, notices, apis + 1):
                        for _ in range(100):  # the server restart: enqueue waits it out
                            try:
                                result = syndicator.enqueue(notice(i))
                                break
                            except Exception:
                                time.sleep(0.2)
                        else:
                            raise RuntimeError(f"notice {i} could not be enqueued")
                        accepted.append(result.notice_id)
            except BaseException as exc:
                errors.append(exc)

        def enqueue_over_http(api: Api) -> None:
            try:
                share = range(api.index + 1, notices, apis + 1)
                _enqueue_over_http(api, token, share, accepted)
            except BaseException as exc:
                errors.append(exc)

        with Syndicator.from_config(folder / "channels.yaml", env={}) as first:  # migrated once
            token = first.tokens.create("upstream", [Scope.enqueue]).secret
        fronts = [Api(folder, a) for a in range(apis)]
        enqueuers = [threading.Thread(target=enqueue_all, name="enqueue", daemon=True)]
        enqueuers += [
            threading.Thread(target=enqueue_over_http, args=(api,), name="http", daemon=True)
            for api in fronts
        ]
        for thread in enqueuers:
            thread.start()
        n = 0
        for _ in range(workers):
            running.append(_start_worker(folder, n))
            n += 1
        restart_at = kills // 2
        k = 0
        while k < kills:
            # Spread over the enqueueing: kill k once its share of the notices is in.
            due = notices * (k + 1) // (kills + 1)
            while len(accepted) < due and any(t.is_alive() for t in enqueuers):
                time.sleep(0.1)
            time.sleep(rng.uniform(0.3, 2.0))
            if fronts and rng.random() < 0.2:
                api = rng.choice(fronts)
                os.kill(api.process.pid, signal.SIGKILL)
                api.process.wait()
                api.start()
                report.api_kills += 1
                say(f"kill of API process {api.index} ({report.api_kills} so far)")
                continue
            victim = rng.randrange(len(running))
            # A kill is meant for a worker at work: give it a moment to take a lease.
            busy = _wait_until_leasing(url, running[victim].pid, LEASE_WAIT)
            os.kill(running[victim].pid, signal.SIGKILL)
            running[victim].wait()
            report.kills_during_delivery += busy
            say(f"kill {k + 1}/{kills}: worker {victim}{' holding leases' if busy else ''}")
            running[victim] = _start_worker(folder, n)
            n += 1
            if k == restart_at:
                # The fresh worker may be opening its ledger right now: it waits for it.
                server.restart()
                say("PostgreSQL restarted")
            k += 1
        deadline = time.monotonic() + max_wait
        while any(t.is_alive() for t in enqueuers) and time.monotonic() < deadline:
            time.sleep(0.5)  # not join(): a signal must be able to stop the run here
        if any(thread.is_alive() for thread in enqueuers):
            report.failures.append("enqueue did not finish")
        report.failures += [f"enqueue failed: {exc!r}" for exc in errors]

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(url) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]  # type: ignore[arg-type]

        deadline = time.monotonic() + max_wait
        unfinished = "SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'in_flight')"
        while query(unfinished)[0][0] and time.monotonic() < deadline:
            for i, p in enumerate(running):
                if p.poll() is not None:
                    report.failures.append(f"worker {i} exited with {p.returncode}")
                    running[i] = _start_worker(folder, n)
                    n += 1
            time.sleep(0.2)
        for p in [*running, *(api.process for api in fronts)]:
            p.send_signal(signal.SIGTERM)
        for p in [*running, *(api.process for api in fronts)]:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                report.failures.append("a worker or an API process did not stop on SIGTERM")
        running, fronts = [], []
        for path in sorted([*folder.glob("worker-*.log"), *folder.glob("api-*.log")]):
            if "Traceback" in path.read_text(encoding="utf-8", errors="replace"):
                report.failures.append(f"{path.name} holds a traceback")
        check(
            query,
            accepted,
            honouring,
            forgetful,
            report,
            store_url=url,
            sqlite=False,
            duplicates_allowed=kills + 1,  # the server restart counts as a kill
        )
    finally:
        for p in [*running, *(api.process for api in fronts)]:
            if p.poll() is None:
                p.kill()
                p.wait()
        honouring.stop()
        forgetful.stop()
        server.stop()
        if tmp is not None:
            tmp.cleanup()
    report.seconds = time.monotonic() - started
    return report


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--apis", type=int, default=2, help="API processes enqueueing over HTTP")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs of workers")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument("--max-wait", type=float, default=1800.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)  # stop like Ctrl-C: processes and server too
    report = run(
        args.notices,
        args.workers,
        args.kills,
        apis=args.apis,
        seed=args.seed,
        folder=args.keep,
        max_wait=args.max_wait,
        log=sys.stderr,
    )
    return conclude(
        report,
        f"{report.notices} notices x {len(CHANNELS)} channels, {args.workers} workers and "
        f"{args.apis} API processes; {report.kills} worker kills "
        f"({report.kills_during_delivery} holding leases), {report.api_kills} API kills "
        f"and a server restart; seed {report.seed}, {report.seconds:.1f}s",
    )


if __name__ == "__main__":
    sys.exit(main())
