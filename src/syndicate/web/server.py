"""``syndicate serve``: uvicorn with the API and, unless told otherwise, the worker.

SIGTERM or SIGINT: uvicorn stops accepting, lets requests in flight finish,
then the app's shutdown drains the worker (``worker.grace``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..syndicator import Syndicator
from .app import create_app

_CONFIG_ENV = "SYNDICATE_SERVE_CONFIG"
_WORKER_ENV = "SYNDICATE_SERVE_WORKER"
_WAIT_ENV = "SYNDICATE_SERVE_WAIT_FOR_LEDGER"


class _Server(uvicorn.Server):
    """uvicorn's server that exits 0 after a clean shutdown on SIGTERM, as ``syndicate run`` does.

    (uvicorn itself re-raises the signal once drained, so the process would die of it.)
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in signals}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _say_waiting(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def app_from_environment() -> FastAPI:
    """The app each of ``--workers N`` processes builds for itself (uvicorn's factory)."""
    syndicator = Syndicator.from_config(
        os.environ[_CONFIG_ENV],
        wait_for_ledger=float(os.environ.get(_WAIT_ENV, "0")),
        progress=_say_waiting,
    )
    return create_app(syndicator, worker=os.environ.get(_WORKER_ENV) == "1")


def serve(
    config: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    worker: bool = True,
    workers: int = 1,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "info",
    access_log: bool = True,
    wait_for_ledger: float = 0.0,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT. With ``workers`` > 1, that many processes share the port.

    ``wait_for_ledger``: seconds each process waits for a ledger server that does
    not answer yet, telling ``progress`` (stderr in the processes uvicorn starts).
    """
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "log_level": log_level,
        "access_log": access_log,
        "proxy_headers": True,
        "server_header": False,
    }
    if workers > 1:
        os.environ[_CONFIG_ENV] = str(config.resolve())
        os.environ[_WORKER_ENV] = "1" if worker else "0"
        os.environ[_WAIT_ENV] = str(wait_for_ledger)
        uvicorn.run(
            "syndicate.web.server:app_from_environment", factory=True, workers=workers, **options
        )
        return
    syndicator = Syndicator.from_config(config, wait_for_ledger=wait_for_ledger, progress=progress)
    try:
        _Server(uvicorn.Config(create_app(syndicator, worker=worker), **options)).run()
    finally:
        syndicator.close()
