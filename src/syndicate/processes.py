"""``syndicate run --processes N``: N worker processes on one machine, one ledger.

Each process is a whole worker (``syndicate run``) with its own event loop and
its own name in the ledger; they share the deliveries the way workers on
several machines do, through leases with fencing tokens, and the channels'
concurrency, rate limits and circuits, which are kept in the ledger. On a
machine with several cores this is how the worker uses more than one: one
Python process runs on one core at a time. A channel's concurrency bounds all
workers together (the ledger counts every lease), so each of the N takes at
most 1/N of it: otherwise the first to claim takes every slot and the others
idle.

The supervisor starts them, and starts again one that a signal killed (the
kernel's out-of-memory killer, a crash, a stray ``kill -9``): its part of each
channel would otherwise stay unused. (What it held is due again at once: a
worker starting releases the leases of dead workers of its machine.) One that
exits on its own (done under ``--once``, or stopping with an error it has
printed) is left stopped. Each death is said on standard error; a worker that
keeps dying soon after its start is started again more slowly (1 s, doubling up
to 60 s). SIGTERM or SIGINT to the supervisor is passed to every worker, each
drains (attempts in flight finish within ``worker.grace``), and it exits when
all have, with the worst exit status among the workers' last runs.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

FIRST_DELAY = 1.0
"""Seconds before a killed worker is started again the first time."""
MAX_DELAY = 60.0
"""The longest wait between the starts of a worker that keeps dying."""
STEADY = 60.0
"""A worker that lived this long before it died is started again after FIRST_DELAY."""
_TICK = 0.1


@dataclass
class _Slot:
    """One of the N workers, across the processes that have been it."""

    number: int
    child: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    delay: float = FIRST_DELAY
    start_at: float | None = None  # when a killed worker is due to start again
    code: int | None = None  # its last exit status, once it is left stopped
    deaths: int = 0


def supervise(config: Path, count: int, run_args: Sequence[str]) -> int:
    """Run ``count`` ``syndicate run`` processes with ``run_args``; the worst exit status."""
    command = [sys.executable, "-m", "syndicate", "--config", str(config), "run", *run_args]
    slots = [_Slot(n) for n in range(1, count + 1)]
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for slot in slots:
            if slot.child is not None and slot.child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.child.send_signal(signal.SIGTERM)

    def start(slot: _Slot) -> None:
        slot.child, slot.started, slot.start_at = subprocess.Popen(command), time.monotonic(), None

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for slot in slots:
            start(slot)
        while any(slot.code is None for slot in slots):
            now = time.monotonic()
            for slot in slots:
                if slot.code is not None:
                    continue
                if slot.child is None:  # waiting to be started again
                    if stopping:
                        slot.code = 0  # it held nothing: the stop is clean for it
                    elif slot.start_at is not None and now >= slot.start_at:
                        start(slot)
                    continue
                code = slot.child.poll()
                if code is None:
                    continue
                if stopping or code >= 0:
                    slot.code = code
                    continue
                _restart_later(slot, code, now)
            time.sleep(_TICK)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        forward(signal.SIGTERM, None)  # a supervisor that fails takes no worker with it unstopped
        for slot in slots:
            if slot.child is not None:
                slot.child.wait()
    # A worker stopped by the forwarded signal before it had set its own handler was
    # still starting: it held no delivery, so that is a clean stop too.
    failed = [s.code for s in slots if s.code not in (0, -signal.SIGTERM, None)]
    if not failed:
        return 0
    # Death by another signal (negative) counts as the shell would show it.
    return max(c if c > 0 else 128 - c for c in failed if c is not None)


def _restart_later(slot: _Slot, code: int, now: float) -> None:
    """A worker killed by a signal: say so, and start it again after a delay."""
    assert slot.child is not None
    lived = now - slot.started
    quick = slot.deaths > 0 and lived < STEADY
    slot.delay = min(slot.delay * 2, MAX_DELAY) if quick else FIRST_DELAY
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    what = f"worker {slot.number} (pid {slot.child.pid}) was killed by {name} after {lived:.0f}s"
    slot.deaths += 1
    print(
        f"syndicate: {what}; starting it again in {slot.delay:g}s",
        file=sys.stderr,
        flush=True,
    )
    slot.child, slot.start_at = None, now + slot.delay
