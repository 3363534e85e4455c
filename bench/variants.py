"""What-if variants of cms_http, registered only in the benchmark's registry.

They change one thing each, so a row in the table shows what that change
buys or costs before anyone touches the adapter:

    cms_http_httpx_aiohttp  the same adapter through httpx's API over aiohttp's pool
                            (httpx-aiohttp), as it sent before it used aiohttp directly
    cms_http_httpx          the same adapter on httpx's own transport (httpcore's pool)

Their wire failures are all "transient": they are for measuring, not for delivering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from httpx_aiohttp import AiohttpTransport
from syndicate_adapters._wire import Answer
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate.errors import TransientDeliveryError
from syndicate.registry import AdapterRegistry


class HttpxAiohttpCms(CmsHttpAdapter):
    """cms_http through httpx's request and response objects over aiohttp's pool."""

    kind: ClassVar[str] = "cms_http_httpx_aiohttp"

    def __init__(self, channel: str, options: Any, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self._httpx: httpx.AsyncClient | None = None

    def _transport(self) -> httpx.AsyncBaseTransport:
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return AiohttpTransport(verify=False, trust_env=False, limits=limits)

    async def _exchange(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Answer, bytes]:
        if self._httpx is None:
            t = self.options.timeouts
            self._httpx = httpx.AsyncClient(
                transport=self._transport(),
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": "syndicate"},
            )
        try:
            async with self._httpx.stream(method, url, content=body, headers=headers) as r:
                answer = bytearray()
                async for chunk in r.aiter_bytes():
                    answer += chunk
        except httpx.TransportError as exc:
            raise TransientDeliveryError(f"{self.describe()}: {exc!r}") from None
        return Answer(r.status_code, r.reason_phrase, r.headers, r.encoding), bytes(answer)

    async def aclose(self) -> None:
        client, self._httpx = self._httpx, None
        if client is not None:
            await client.aclose()
        await super().aclose()


class HttpxTransportCms(HttpxAiohttpCms):
    """cms_http on httpx's own transport (httpcore's pool)."""

    kind: ClassVar[str] = "cms_http_httpx"

    def _transport(self) -> httpx.AsyncBaseTransport:
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return httpx.AsyncHTTPTransport(verify=False, trust_env=False, limits=limits)


def register(registry: AdapterRegistry) -> None:
    """Add the variants to ``registry`` under their kind names."""
    for kind in (HttpxAiohttpCms, HttpxTransportCms):
        registry.register(kind, kind.kind)
