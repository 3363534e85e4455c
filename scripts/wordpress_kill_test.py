#!/usr/bin/env python3
"""SIGKILL the worker while it publishes to a real WordPress, and prove nothing is posted twice.

A WordPress site is started on loopback (tests/peers/wordpress.py: Debian's
package, PHP's built-in server, MariaDB). N notices go
to one channel configured exactly as examples/wordpress/channels.yaml (slug
from the idempotency key, lookup by slug, concurrency 4). The worker
(`python -m syndicate run`) is killed with SIGKILL K times at random moments
while it publishes, and restarted each time; then workers (`run --once`) run until
every delivery has ended. Checks:

  ledger      every delivery delivered, each with a distinct remote id
  duplicates  exactly one post per notice on the site; no slug WordPress
              had to make unique ("-2"), so no second post was ever made
  ids         every post on the site is in the ledger, and every ledger id is a post
  links       every recorded remote_url opens the page of its own notice
  kills       the kills landed while the worker held deliveries

    scripts/wordpress_kill_test.py --notices 200 --kills 5 [--seed 7] [--keep DIR]

Exits 0 when every check holds, 1 otherwise (each failed check on one line).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "src"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from syndicate.syndicator import Syndicator  # noqa: E402
from tests.peers.wordpress import ADMIN, WordPress, running_wordpress  # noqa: E402

EXAMPLE = ROOT / "examples" / "wordpress" / "channels.yaml"
CHANNEL = "website"

NOTICE: dict[str, Any] = {
    "version": 1,
    "category": "procurement",
    "notice_type": "tender",
    "region_code": "441600",
    "publisher": {"name": "河源市公共资源交易中心"},
    "publish_at": "2026-11-20T09:00:00+08:00",
    "procurement": {"method": "open_tender", "budget": {"value": "1280000.00", "unit": "元"}},
}


def notice(i: int) -> dict[str, Any]:
    """A long Chinese title, as the ones WordPress once gave the same link under concurrency."""
    data = copy.deepcopy(NOTICE)
    data["id"] = f"HYCG-KILL-{i:04d}"
    data["project_code"] = f"HYCG2026-{i:04d}"
    data["title"] = (
        f"河源市公共资源交易中心关于河源市第{i}批次政府采购教学设备及信息化建设项目的公开招标公告"
    )
    data["body_html"] = f"<p>第{i}号公告：本项目已具备采购条件，现进行公开招标。</p>"
    return data


@dataclass
class Report:
    notices: int
    kills: int
    seed: int
    failures: list[str] = field(default_factory=list)
    held_at_kill: list[int] = field(default_factory=list)
    posts: int = 0
    found_by_lookup: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"seed {self.seed}: {self.notices} notices, {self.kills} SIGKILLs",
            f"deliveries held by the worker at each kill: {self.held_at_kill}",
            f"posts on the site: {self.posts}; deliveries found by lookup after a kill: "
            f"{self.found_by_lookup}",
            f"{self.seconds:.1f}s",
        ]


def _env(wp: WordPress) -> dict[str, str]:
    return {"WP_URL": wp.url, "WP_USER": ADMIN, "WP_APP_PASSWORD": wp.app_password}


def _start_worker(folder: Path, wp: WordPress, n: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATE_")}
    env.update(_env(wp))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    )
    with (folder / f"worker-{n:02d}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "syndicate", "run", "-q", *extra],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def _query(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _count(db_path: Path, where: str) -> int:
    return int(_query(db_path, f"SELECT COUNT(*) FROM deliveries WHERE {where}")[0][0])


@contextlib.contextmanager
def _site(folder: Path, wp: WordPress | None) -> Iterator[WordPress]:
    if wp is not None:
        yield wp
    else:
        with running_wordpress(folder / "wordpress") as site:
            yield site


def run(
    notices: int,
    kills: int,
    *,
    seed: int | None = None,
    folder: Path | None = None,
    wp: WordPress | None = None,
    max_wait: float = 600.0,
    log: Any = None,
) -> Report:
    """One kill run in ``folder`` (by default a temporary one) against ``wp`` or a new site."""
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    report = Report(notices, kills, seed)
    tmp = tempfile.TemporaryDirectory(prefix="syndicate-wpkill-") if folder is None else None
    folder = Path(tmp.name) if tmp is not None else Path(folder or ".")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        if log is not None:
            print(text, file=log, flush=True)

    worker: subprocess.Popen[bytes] | None = None
    try:
        with _site(folder, wp) as site:
            config = folder / "channels.yaml"
            config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
            db_path = folder / "ledger.db"
            with Syndicator.from_config(config, env=_env(site)) as syndicator:
                for i in range(notices):
                    syndicator.enqueue(notice(i))
            say(f"{notices} notices enqueued for {site.url}")

            for k in range(kills):
                worker = _start_worker(folder, site, k)
                # Kill while posts are being made: wait until some are done, then a little more.
                target = _count(db_path, "state = 'delivered'") + rng.randint(
                    2, 3 * notices // (kills + 2)
                )
                deadline = time.monotonic() + 60
                while (
                    _count(db_path, "state = 'delivered'") < target and time.monotonic() < deadline
                ):
                    if worker.poll() is not None:
                        break
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 0.3))
                held = _count(
                    db_path, f"state = 'in_flight' AND lease_owner LIKE '%:{worker.pid}:%'"
                )
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                worker = None
                report.held_at_kill.append(held)
                say(f"kill {k + 1}/{kills}: {held} deliveries in flight")

            # Then workers that deliver what is due and exit, until nothing is left.
            deadline = time.monotonic() + max_wait
            n = kills
            while _count(db_path, "state IN ('pending', 'in_flight')"):
                if time.monotonic() > deadline:
                    report.failures.append("deliveries were still unfinished at the end")
                    break
                worker = _start_worker(folder, site, n, "--once")
                code = worker.wait(timeout=max_wait)
                worker = None
                if code != 0:
                    report.failures.append(f"a last worker (run --once) exited with {code}")
                    break
                n += 1
                time.sleep(0.2)
            for path in sorted(folder.glob("worker-*.log")):
                if "Traceback" in path.read_text(encoding="utf-8", errors="replace"):
                    report.failures.append(f"{path.name} holds a traceback")
            check(db_path, site, report)
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        if tmp is not None:
            tmp.cleanup()
    report.seconds = time.monotonic() - started
    return report


def check(db_path: Path, wp: WordPress, report: Report) -> None:
    """Check the ledger against what the site holds; append each failure to ``report``."""
    fail = report.failures.append
    rows = _query(
        db_path,
        "SELECT n.id, n.title, d.state, d.remote_id, d.remote_url, d.idempotency_key "
        "FROM deliveries d JOIN notices n ON n.pk = d.notice_pk WHERE d.channel = 'website'",
    )
    states = Counter(r[2] for r in rows)
    if dict(states) != {"delivered": report.notices}:
        fail(f"ledger: deliveries by state {dict(states)}, expected {report.notices} delivered")
    ids = [r[3] for r in rows if r[3] is not None]
    if len(set(ids)) != len(ids):
        fail(f"ledger: {len(ids) - len(set(ids))} remote ids recorded for two deliveries")
    report.found_by_lookup = int(
        _query(db_path, "SELECT COUNT(*) FROM attempts WHERE status = 'found'")[0][0]
    )

    posts = [p for p in wp.posts() if p["slug"].startswith("hycg-kill-")]
    report.posts = len(posts)
    per_notice = Counter(p["slug"].split("-v1-")[0] for p in posts)
    twice = {slug: n for slug, n in per_notice.items() if n > 1}
    if twice:
        fail(f"duplicates: {sum(twice.values()) - len(twice)} extra posts, e.g. {list(twice)[:5]}")
    renamed = [p["slug"] for p in posts if not p["slug"].endswith("-v1-website")]
    if renamed:
        fail(f"duplicates: WordPress had to rename {len(renamed)} slugs, e.g. {renamed[:5]}")
    on_site = {str(p["id"]) for p in posts}
    orphans, phantoms = sorted(on_site - set(ids)), sorted(set(ids) - on_site)
    if orphans:
        fail(f"ids: {len(orphans)} posts are not in the ledger, e.g. {orphans[:10]}")
    if phantoms:
        fail(f"ids: {len(phantoms)} ledger ids are no post, e.g. {phantoms[:10]}")

    wrong = []
    for notice_id, title, _, _, url, key in rows:
        expected = f"{wp.url}/{key.lower().replace('.', '-')}/"
        status, page = wp.page(url) if url else (0, "")
        if url != expected or status != 200 or title not in page:
            wrong.append(f"{notice_id}: {url} (HTTP {status})")
    if wrong:
        fail(f"links: {len(wrong)} recorded links do not open their own notice, e.g. {wrong[:3]}")
    if report.kills and not any(report.held_at_kill):
        fail("kills: no kill landed while deliveries were in flight")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    args = parser.parse_args()
    report = run(args.notices, args.kills, seed=args.seed, folder=args.keep, log=sys.stderr)
    for line in report.lines():
        print(line)
    for failure in report.failures:
        print(f"FAILED {failure}")
    print("ok" if not report.failures else f"{len(report.failures)} checks failed")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
