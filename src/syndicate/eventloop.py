"""The worker's event loop: uvloop where it is installed, asyncio's own otherwise.

uvloop (the ``uvloop`` extra) runs the same coroutines with less CPU per
callback and per socket read; nothing in the engine depends on which loop
runs it. ``SYNDICATE_EVENT_LOOP=asyncio`` keeps asyncio's loop even where
uvloop is installed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory if it is installed and not turned off; None: asyncio's."""
    if os.environ.get("SYNDICATE_EVENT_LOOP", "").strip().lower() == "asyncio":
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
