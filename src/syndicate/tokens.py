"""Scoped bearer tokens for the HTTP API: shown once, stored as a hash, compared in constant time.

A token reads ``syn_<id>_<secret>``. The id finds the ledger row; only the
SHA-256 of the secret is kept there. The secret is 32 random bytes, so a fast
hash is enough: there is nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from .errors import Problem, QueryError
from .store.base import Store, TokenRecord

PREFIX = "syn_"
_TOKEN = re.compile(r"^syn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Scope(StrEnum):
    """What a token may do; ``admin`` may do everything."""

    enqueue = "enqueue"  # POST /v1/notices
    read = "read"  # every GET of the ledger, /metrics
    operate = "operate"  # replay, pause, resume
    admin = "admin"


@dataclass(frozen=True)
class Issued:
    """A new token: ``secret`` is the whole token, shown this once and never stored."""

    record: TokenRecord
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def grants(record: TokenRecord, scope: Scope) -> bool:
    return scope.value in record.scopes or Scope.admin.value in record.scopes


# A verified token is trusted this long without asking the ledger again. Revoking it in
# this process (``Tokens.revoke``) takes effect at once; revoked by another process or
# host (``syndicate token revoke``), it keeps working here for at most this long.
RECHECK_SECONDS = 5.0
_REMEMBERED = 1024  # verified tokens kept at most; more are forgotten all at once


class Tokens:
    """The API's tokens, kept in the ledger so every API process on every host sees them."""

    def __init__(self, store: Store, *, recheck: float = RECHECK_SECONDS) -> None:
        self.store = store
        self.recheck = recheck
        # SHA-256 of a presented token → its record and when the ledger last confirmed it.
        self._verified: dict[str, tuple[TokenRecord, float]] = {}

    def create(self, name: str, scopes: list[Scope] | tuple[Scope, ...]) -> Issued:
        problems = []
        if not _NAME.match(name):
            problems.append(Problem("name", "must be 1-64 letters, digits, '.', '_', '@' or '-'"))
        if not scopes:
            problems.append(Problem("scope", "give at least one: enqueue, read, operate, admin"))
        if any(t.name == name and t.revoked_at is None for t in self.store.tokens()):
            problems.append(Problem("name", f"a token called {name!r} exists; revoke it first"))
        if problems:
            raise QueryError(problems)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        record = TokenRecord(
            id=token_id,
            name=name,
            scopes=tuple(sorted({s.value for s in scopes})),
            secret_sha256=_hash(secret),
            created_at=time.time(),
        )
        self.store.add_token(record)
        return Issued(record, f"{PREFIX}{token_id}_{secret}")

    def list(self) -> list[TokenRecord]:
        return self.store.tokens()

    def revoke(self, name: str) -> int:
        self._verified.clear()
        return self.store.revoke_token(name, time.time())

    def remembered(self, presented: str) -> TokenRecord | None:
        """The token ``presented`` is, if the ledger confirmed it less than ``recheck`` ago.

        None means "ask ``authenticate``", not "refused": it reads no ledger, so an
        event loop may call it without a thread.
        """
        found = self._verified.get(_hash(presented))
        if found is None or time.monotonic() - found[1] >= self.recheck:
            return None
        return found[0]

    def authenticate(self, presented: str) -> TokenRecord | None:
        """The live token ``presented`` is, or None: unknown, malformed, revoked or wrong."""
        key = _hash(presented)
        self._verified.pop(key, None)
        match = _TOKEN.match(presented)
        if match is None:
            return None
        record = self.store.token(match.group(1))
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.secret_sha256, _hash(match.group(2))):
            return None
        if len(self._verified) >= _REMEMBERED:
            self._verified.clear()
        self._verified[key] = (record, time.monotonic())
        return record
