"""What-if variants of cms_http, registered only in the benchmark's registry.

They change one thing each, so a row in the table shows what that change
buys or costs before anyone touches the adapter:

    cms_http_httpx   the same adapter on httpx's own transport (httpcore's pool)
                     instead of the aiohttp transport it ships with
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate.registry import AdapterRegistry


class HttpxTransportCms(CmsHttpAdapter):
    """cms_http on httpx's own transport, as it was before the aiohttp transport."""

    kind: ClassVar[str] = "cms_http_httpx"

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(**self._client_settings())


def register(registry: AdapterRegistry) -> None:
    """Add the variants to ``registry`` under their kind names."""
    for kind in (HttpxTransportCms,):
        registry.register(kind, kind.kind)
