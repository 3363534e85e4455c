"""The HTTP API under uvicorn on a free loopback port, in a thread: what clients over the network see."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn

from syndicate import Syndicator
from syndicate.web.app import create_app


class ApiServer:
    """``create_app(syndicator)`` served by uvicorn at ``url`` until the block ends."""

    def __init__(self, syndicator: Syndicator, *, worker: bool = False) -> None:
        self.syndicator = syndicator
        self.app = create_app(syndicator, worker=worker)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)
        self.url = ""

    def __enter__(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start (see the log above)")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError("the API server did not stop within 30 s")
