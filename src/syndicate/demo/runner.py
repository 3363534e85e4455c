"""``syndicate demo``: the example notices through channels started on loopback."""

from __future__ import annotations

import secrets
import tempfile
import time
from importlib.resources import files
from pathlib import Path

from rich.console import Console

from .. import report
from ..config import parse_config
from ..errors import NoticeError
from ..notice import Notice
from ..registry import AdapterRegistry
from ..store.base import DeliveryState
from ..syndicator import Syndicator
from .http_sink import HttpSink, Reply

DEADLINE = 60.0


def bundled_notices() -> Path | None:
    """examples/notices from the current folder or from the source checkout."""
    here = Path(__file__).resolve()
    for candidate in (
        Path.cwd() / "examples" / "notices",
        here.parents[3] / "examples" / "notices",
    ):
        if candidate.is_dir():
            return candidate
    return None


def run_demo(
    registry: AdapterRegistry,
    *,
    notices_dir: Path | None = None,
    keep: Path | None = None,
    console: Console | None = None,
) -> int:
    """Start the demo channels, publish the notices, show the result; the exit code."""
    console = console or Console()
    notices_dir = notices_dir or bundled_notices()
    if notices_dir is None:
        console.print("[red]error:[/] no examples/notices folder here; pass --notices DIR")
        return 1
    with tempfile.TemporaryDirectory(prefix="syndicate-demo-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with HttpSink() as sink:
            sink.script("/city-portal/api/notices", [Reply(503, headers={"Retry-After": "0"})])
            env = {
                "DEMO_LEDGER": f"sqlite:///{workdir / 'ledger.db'}",
                "DEMO_HTTP_URL": sink.url,
                "DEMO_TOKEN": secrets.token_hex(16),
            }
            text = files("syndicate.demo").joinpath("channels.yaml").read_text("utf-8")
            config = parse_config(text, "demo/channels.yaml", registry, base_dir=workdir, env=env)
            console.print(f"demo channels on loopback: HTTP {sink.url}")
            console.print(f"ledger: {workdir / 'ledger.db'}\n")
            with Syndicator(config, registry) as syndicator:
                refused = _enqueue(syndicator, notices_dir, console)
                started = time.monotonic()
                syndicator.drain(timeout=DEADLINE)
                rows = syndicator.store.deliveries()
                lines = report.group(rows)
                console.print()
                console.print(report.matrix(lines, list(config.channels)))
                console.print(report.landings(rows))
                done = sum(r.state is DeliveryState.delivered for r in rows)
                console.print(
                    f"{done} of {len(rows)} deliveries delivered in "
                    f"{time.monotonic() - started:.1f}s; {sink.duplicates} duplicates seen by "
                    f"the HTTP channels; {refused} notices refused"
                )
        if keep:
            console.print(f"kept in {keep}: the ledger; try `syndicate -c ... status`")
        return 0 if done == len(rows) and not refused else 1


def _enqueue(syndicator: Syndicator, folder: Path, console: Console) -> int:
    refused = 0
    for path in sorted(folder.glob("*.json")):
        try:
            accepted = syndicator.enqueue(Notice.parse(path.read_bytes(), source=path.name))
        except NoticeError as exc:
            refused += 1
            for problem in exc.problems:
                console.print(f"[red]refused:[/] {path.name}: {problem}")
            continue
        console.print(
            f"accepted {accepted.notice_id}.v{accepted.version} → {', '.join(accepted.channels)}"
        )
    return refused
