"""Secrets masked in every form they could be written in, before anything is stored or shown.

A secret can come back from a peer that echoes a request: as itself, inside
a ``Basic`` header's base64, URL-encoded in a query string, as hex. ``Masker``
knows the configured secrets and hides each of those forms, plus the shapes
credentials always take whoever's they are (``Bearer …``, ``Basic …``,
``user:password@`` in a URL, ``?token=…``). Text is masked whole, before it is
cut to length, so half a secret never survives a truncation.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, SecretStr

MASK = "***"
MIN_SECRET = 4
"""Shorter values are not masked as text: they would blot out ordinary words."""

_SENSITIVE = (
    r"(?:access[_-]?token|api[_-]?key|apikey|auth|key|password|passwd|pwd|secret|sig|signature"
    r"|token)"
)
_SHAPES = [
    # Authorization schemes: whatever follows is a credential.
    # (Something with a digit or a base64 sign in it: "basic authentication" stays.)
    (
        re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[\w.~+/-]*[0-9+/=])[\w.~+/=-]{8,}"),
        r"\1\2" + MASK,
    ),
    # user:password@ in a URL (a proxy URL, an echoed request line).
    # (Every repeat is bounded: a long run of letters costs one pass, not one per start.)
    (
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://[^\s/:@]{1,256}):[^\s/@]{1,256}@"),
        r"\1:" + MASK + "@",
    ),
    # ?token=… &api_key=… in a query string or form body.
    (re.compile(rf"(?i)([?&;]{_SENSITIVE}=)[^&;#\s\"']+"), r"\1" + MASK),
    # "password": "…" in an echoed JSON document.
    (re.compile(rf'(?i)("{_SENSITIVE}"\s*:\s*")[^"]+'), r"\1" + MASK),
]
_SHAPE_SIGNS = re.compile(r'[\s@="]')
"""What text must hold for any shape to match (a space, ``@``, ``=``, ``"``): most
receipts (a status, an id, a URL without a query) hold none and skip the patterns."""


def forms(secret: str) -> set[str]:
    """The ways ``secret`` can appear in text: itself, encoded, and inside any base64."""
    raw = secret.encode("utf-8")
    found = {secret, quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    for offset in range(3):
        # Base64 of a longer string holding the secret at any byte offset: the
        # characters that depend only on the secret's own bytes.
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * offset + raw).decode("ascii")
            middle = text[-(-offset * 4 // 3) : (offset + len(raw)) * 4 // 3]
            if len(middle) >= MIN_SECRET:
                found.add(middle)
    return {f for f in found if len(f) >= MIN_SECRET}


class Masker:
    """Masks a set of secrets, in all their forms, and every credential-shaped span."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        found = set(self._forms)
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET:
                found |= forms(secret)
        # Longest first, so a form inside another is not masked half.
        self._forms = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return self.mask(text)

    def mask(self, text: str) -> str:
        """``text`` with every secret and credential in it replaced by ``***``."""
        for form in self._forms:  # str.replace: linear, whatever the text
            if form in text:
                text = text.replace(form, MASK)
        if _SHAPE_SIGNS.search(text) is None:
            return text
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.mask(text)


def secret_values(value: Any) -> list[str]:
    """Every ``SecretStr`` in a (nested) pydantic model, in clear: what must never be shown."""
    found: list[str] = []
    if isinstance(value, SecretStr):
        found.append(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found += secret_values(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            found += secret_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found += secret_values(item)
    return found
