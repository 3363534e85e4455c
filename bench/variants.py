"""What-if variants of cms_http, registered only in the benchmark's registry.

They change one thing each, so a row in the table shows what that change
would buy before anyone touches the adapter:

    cms_http_aiohttp   the same httpx client API over the httpx-aiohttp transport
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate.registry import AdapterRegistry


class AiohttpTransportCms(CmsHttpAdapter):
    """cms_http with httpx's API kept and aiohttp underneath (httpx-aiohttp)."""

    kind: ClassVar[str] = "cms_http_aiohttp"

    def _new_client(self) -> httpx.AsyncClient:
        from httpx_aiohttp import AiohttpTransport

        settings = self._client_settings()
        proxy = settings.pop("proxy")
        transport = AiohttpTransport(
            verify=settings.pop("verify"),
            trust_env=False,
            limits=settings.pop("limits"),
            proxy=httpx.Proxy(proxy) if proxy else None,
        )
        return httpx.AsyncClient(transport=transport, **settings)


def register(registry: AdapterRegistry) -> None:
    """Add the variants to ``registry`` under their kind names."""
    for kind in (AiohttpTransportCms,):
        registry.register(kind, kind.kind)
