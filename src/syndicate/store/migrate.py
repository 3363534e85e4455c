"""Versioned schema migrations: ``migrations/<backend>/NNNN_name.sql``, applied in order.

Each backend has the same version numbers; a ledger records the version it
is at in ``meta.schema_version``. Opening a ledger applies what is missing,
one version per transaction; a ledger newer than this code is refused, not
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from ..errors import LedgerVersionError
from . import chaining
from .chaining import Tx

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
BACKENDS = ("sqlite", "postgresql")
CHAIN_VERSION = 4  # the version that begins the hash chain: older rows are chained as they stand
FACTS_VERSION = 10  # warnings, operations, tokens and pauses join the chain, as they stand


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations(backend: str) -> tuple[Migration, ...]:
    """The backend's migrations, oldest first; numbered 1, 2, 3… without gaps."""
    folder = files("syndicate.store").joinpath("migrations", backend)
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {backend} migrations are not numbered 1, 2, 3…")
    return tuple(found)


def then(version: int, tx: Tx, now: float) -> None:
    """What a migration needs Python for, run in its transaction after its SQL."""
    if version == CHAIN_VERSION:
        chaining.adopt(tx, now)
    if version == FACTS_VERSION:
        chaining.adopt_facts(tx, now)


def latest(backend: str) -> int:
    return len(migrations(backend))


def pending(backend: str, found: int, where: str) -> tuple[Migration, ...]:
    """What ``found`` lacks; LedgerVersionError if the ledger is newer than this code."""
    newest = latest(backend)
    if found > newest:
        raise LedgerVersionError(
            f"the ledger {where} has schema version {found}, newer than this syndicate "
            f"understands ({newest}); upgrade syndicate before using this ledger"
        )
    return migrations(backend)[found:]
