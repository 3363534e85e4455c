"""What-if variants of cms_http, registered only in the benchmark's registry.

They change one thing each, so a row in the table shows what that change
would buy before anyone touches the adapter:

    cms_http_aiohttp   the same httpx client API over the httpx-aiohttp transport
"""

from __future__ import annotations

import ssl
from typing import ClassVar

import httpx
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate import __version__
from syndicate.registry import AdapterRegistry


class AiohttpTransportCms(CmsHttpAdapter):
    """cms_http with httpx's API kept and aiohttp underneath (httpx-aiohttp)."""

    kind: ClassVar[str] = "cms_http_aiohttp"

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            from httpx_aiohttp import AiohttpTransport

            opts = self.options
            verify: ssl.SSLContext | bool = False
            if opts.verify:
                cafile = str(opts.ca_file) if opts.ca_file is not None else None
                verify = ssl.create_default_context(cafile=cafile)
            t = opts.timeouts
            self._client = httpx.AsyncClient(
                transport=AiohttpTransport(verify=verify, trust_env=False),
                timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
                trust_env=False,
                follow_redirects=False,
                headers={"User-Agent": f"syndicate/{__version__}"},
            )
        return self._client


def register(registry: AdapterRegistry) -> None:
    """Add the variants to ``registry`` under their kind names."""
    for kind in (AiohttpTransportCms,):
        registry.register(kind, kind.kind)
