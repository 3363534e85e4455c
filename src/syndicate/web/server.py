"""``syndicate serve``: uvicorn with the API and, unless told otherwise, the worker.

SIGTERM or SIGINT: uvicorn stops accepting, lets requests in flight finish,
then the app's shutdown drains the worker (``worker.grace``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from ..syndicator import Syndicator
from .app import create_app

_CONFIG_ENV = "SYNDICATE_SERVE_CONFIG"
_WORKER_ENV = "SYNDICATE_SERVE_WORKER"


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


def app_from_environment() -> FastAPI:
    """The app each of ``--workers N`` processes builds for itself (uvicorn's factory)."""
    syndicator = Syndicator.from_config(os.environ[_CONFIG_ENV])
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
) -> None:
    """Serve until SIGTERM/SIGINT. With ``workers`` > 1, that many processes share the port."""
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
        uvicorn.run(
            "syndicate.web.server:app_from_environment", factory=True, workers=workers, **options
        )
        return
    syndicator = Syndicator.from_config(config)
    try:
        _Server(uvicorn.Config(create_app(syndicator, worker=worker), **options)).run()
    finally:
        syndicator.close()
