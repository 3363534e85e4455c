"""``syndicate run --processes N``: N worker processes on one machine, one ledger.

Each process is a whole worker (``syndicate run``) with its own event loop and
its own name in the ledger; they share the deliveries the way workers on
several machines do, through leases with fencing tokens, and the channels'
concurrency, rate limits and circuits, which are kept in the ledger. On a
machine with several cores this is how the worker uses more than one: one
Python process runs on one core at a time. A channel's concurrency bounds all
workers together (the ledger counts every lease), so each of the N takes at
most 1/N of it: otherwise the first to claim takes every slot and the others
idle. (A worker that has died leaves its part unused until it is started again.)

The supervisor only starts and stops them: SIGTERM or SIGINT to it is passed
to every worker, each drains (attempts in flight finish within
``worker.grace``), and it exits when all have, with the worst exit status.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType


def supervise(config: Path, count: int, run_args: Sequence[str]) -> int:
    """Run ``count`` ``syndicate run`` processes with ``run_args``; the worst exit status."""
    command = [sys.executable, "-m", "syndicate", "--config", str(config), "run", *run_args]
    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for _ in range(count):
            children.append(subprocess.Popen(command))
        codes = [child.wait() for child in children]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        forward(signal.SIGTERM, None)  # a supervisor that fails takes no worker with it unstopped
        for child in children:
            child.wait()
    # A worker stopped by the forwarded signal before it had set its own handler was
    # still starting: it held no delivery, so that is a clean stop too.
    failed = [c for c in codes if c not in (0, -signal.SIGTERM)]
    if not failed:
        return 0
    # Death by another signal (negative) counts as the shell would show it.
    return max(c if c > 0 else 128 - c for c in failed)
