"""The worker's event loop: asyncio's own, or uvloop when asked for and installed.

``SYNDICATE_EVENT_LOOP=uvloop`` (with the ``uvloop`` extra installed) runs the
worker on uvloop; nothing in the engine depends on which loop runs it. It is
not the default: measured on the benchmark's workload it saved no CPU per
delivery that the measurement could tell apart (bench/RESULTS.md), so it is
not worth a second loop implementation under every deployment.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory if it is asked for and installed; None: asyncio's."""
    if os.environ.get("SYNDICATE_EVENT_LOOP", "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def name() -> str:
    """Which loop ``run`` uses here: ``uvloop`` or ``asyncio``."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the worker's loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
