"""Dashboard sessions: a signed cookie that names an API token, and CSRF tokens bound to it.

The cookie carries the token's id, a random nonce and an expiry, signed with
HMAC-SHA256 under a key derived from the token's stored hash. So the cookie
never holds the token itself, every API process on every host accepts the
same cookie without sharing a secret of its own, and revoking the token ends
its sessions at once. The CSRF token of a form is an HMAC of the nonce under
the same key: it cannot be made without the session, and is useless without it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ...store.base import TokenRecord

COOKIE = "syndicate_session"
LIFETIME = 12 * 3600.0  # a working day: sign in in the morning, not again at lunch
_SESSION = b"syndicate dashboard session"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: which token, until when, and the nonce its CSRF tokens derive from."""

    token: TokenRecord
    nonce: str
    expires_at: float

    @property
    def csrf(self) -> str:
        return _mac(self.token, f"csrf:{self.nonce}".encode())

    def csrf_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(self.csrf, presented)


def _key(token: TokenRecord) -> bytes:
    return hmac.new(bytes.fromhex(token.secret_sha256), _SESSION, hashlib.sha256).digest()


def _mac(token: TokenRecord, message: bytes) -> str:
    return hmac.new(_key(token), message, hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def issue(token: TokenRecord, now: float) -> tuple[str, Session]:
    """A new session for ``token``: the cookie value and what it stands for."""
    session = Session(token, secrets.token_urlsafe(16), now + LIFETIME)
    body = json.dumps({"t": token.id, "n": session.nonce, "e": int(session.expires_at)}).encode()
    return f"{_b64(body)}.{_mac(token, body)}", session


def verify(
    cookie: str | None, lookup: Callable[[str], TokenRecord | None], now: float
) -> Session | None:
    """The live session ``cookie`` stands for, or None: forged, expired, or its token revoked."""
    if not cookie or "." not in cookie:
        return None
    encoded, _, mac = cookie.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        claims = json.loads(body)
        token_id, nonce, expires = str(claims["t"]), str(claims["n"]), float(claims["e"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    token = lookup(token_id)
    if token is None or token.revoked_at is not None or expires < now:
        return None
    if not hmac.compare_digest(_mac(token, body), mac):
        return None
    return Session(token, nonce, expires)
