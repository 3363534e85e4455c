"""aiohttp's client for a push channel that goes through a proxy.

The lean transport (``_wire``) does not speak to proxies; a channel with
``proxy`` set sends through aiohttp as it always has, and its failures are
turned into the same ``WireError`` words, so the ledger cannot tell the two apart.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from ._wire import CONNECT_TIMED_OUT, Answer, CertificateRejected, MaybeSent, NotSent, WireError

_NO_CONTENT_TYPE = frozenset({"Content-Type"})


class ProxiedClient:
    """One aiohttp session with its own pool, every request through ``proxy``."""

    def __init__(
        self,
        *,
        proxy: str,
        limit: int,
        tls: ssl.SSLContext,
        connect: float,
        read: float,
        wait: float,
        user_agent: str,
        max_body: int,
    ) -> None:
        self._proxy, self._proxy_auth = _proxy_parts(proxy)
        self._max_body = max_body
        # sock_connect: one TCP (and TLS) connect; connect: a free pooled connection included.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect, sock_read=read, connect=wait
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, ssl=tls, keepalive_timeout=5.0),
            timeout=timeout,
            trust_env=False,
            headers={"User-Agent": user_agent},
        )

    async def request(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[Answer, bytes]:
        try:
            async with self._session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                # Only what the payload says: aiohttp would label a bare body octet-stream.
                skip_auto_headers=_NO_CONTENT_TYPE,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
                allow_redirects=False,
            ) as response:
                answer = await _read_limited(response.content, self._max_body)
                head = Answer(
                    response.status, response.reason or "", response.headers, response.charset
                )
        except aiohttp.ClientError as exc:
            raise _wire_error(exc) from None
        except TimeoutError as exc:  # a timeout aiohttp did not wrap: the request may be out
            raise MaybeSent(f"timed out (read){f': {exc}' if str(exc) else ''}") from None
        return head, answer

    async def close(self) -> None:
        await self._session.close()


async def _read_limited(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """The answer's body, cut off at ``limit`` bytes."""
    answer = b""
    while len(answer) < limit:
        chunk = await stream.read(limit - len(answer))
        if not chunk:
            break
        answer += chunk
    return answer


def _proxy_parts(proxy: str) -> tuple[str, aiohttp.BasicAuth | None]:
    """The proxy URL without credentials, and the credentials it carried."""
    parts = urlsplit(proxy)
    if parts.username is None:
        return proxy, None
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    auth = aiohttp.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=netloc)), auth


def _wire_error(exc: aiohttp.ClientError) -> WireError:
    """What went wrong on the wire, in the words the ledger has always used."""
    problem = _certificate_problem(exc)
    if problem is not None:
        return CertificateRejected(problem)
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return NotSent(CONNECT_TIMED_OUT)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return MaybeSent("timed out (read)")
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error)
        return NotSent(f"cannot connect to {exc.host}:{exc.port}: {reason}")
    if isinstance(exc, aiohttp.InvalidURL):
        return NotSent(f"cannot send to {exc.url}: not a URL aiohttp can reach")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return MaybeSent(f"connection broken before a complete answer: {detail}")
    if isinstance(exc, aiohttp.ClientOSError):
        return MaybeSent(f"connection broken: {detail}")
    return MaybeSent(detail)


def _certificate_problem(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorCertificateError):
            seen = seen.certificate_error
        if isinstance(seen, ssl.SSLCertVerificationError):
            message = getattr(seen, "verify_message", None) or getattr(seen, "reason", None)
            return str(message or "certificate not trusted")
        seen = seen.__cause__ or seen.__context__
    return None
