"""API tokens: shown once, stored as a hash, refused when wrong, revoked or malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from syndicate.errors import QueryError
from syndicate.store.sqlite import SqliteStore
from syndicate.tokens import Scope, Tokens, grants


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    return Tokens(SqliteStore(tmp_path / "ledger.db"))


def test_a_token_authenticates_only_as_issued(tokens: Tokens) -> None:
    issued = tokens.create("e-tendering", [Scope.enqueue])
    found = tokens.authenticate(issued.secret)
    assert found is not None
    assert found.name == "e-tendering"
    assert grants(found, Scope.enqueue)
    assert not grants(found, Scope.read)
    prefix, secret = issued.secret.rsplit("_", 1)
    other = "A" if secret[0] != "A" else "B"
    assert tokens.authenticate(f"{prefix}_{other}{secret[1:]}") is None
    assert tokens.authenticate(issued.secret + "x") is None
    assert tokens.authenticate("") is None
    assert tokens.authenticate(secret) is None


def test_only_the_hash_is_kept_and_admin_grants_everything(tokens: Tokens, tmp_path: Path) -> None:
    issued = tokens.create("ops", [Scope.admin])
    secret = issued.secret.rsplit("_", 1)[1]
    assert secret.encode() not in (tmp_path / "ledger.db").read_bytes()
    record = tokens.authenticate(issued.secret)
    assert record is not None
    assert all(grants(record, scope) for scope in Scope)


def test_revoked_tokens_are_refused_and_names_are_unique_while_live(tokens: Tokens) -> None:
    first = tokens.create("grafana", [Scope.read])
    with pytest.raises(QueryError, match="a token called 'grafana' exists"):
        tokens.create("grafana", [Scope.read])
    assert tokens.revoke("grafana") == 1
    assert tokens.authenticate(first.secret) is None
    second = tokens.create("grafana", [Scope.read])
    assert tokens.authenticate(second.secret) is not None
    assert [t.revoked_at is None for t in tokens.list()] == [False, True]


def test_a_bad_name_or_no_scope_is_refused_naming_the_field(tokens: Tokens) -> None:
    with pytest.raises(QueryError) as info:
        tokens.create("no spaces please", [])
    assert [p.path for p in info.value.problems] == ["name", "scope"]


def test_a_verified_token_is_remembered_for_the_recheck_bound_a_revocation_here_at_once(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "ledger.db")
    api, elsewhere = Tokens(store, recheck=3600), Tokens(store)
    secret = api.create("upstream", [Scope.enqueue]).secret
    assert api.remembered(secret) is None  # not verified yet: ask the ledger
    assert api.authenticate(secret) is not None
    assert api.remembered(secret) is not None
    other = "B" if secret.endswith("A") else "A"  # the secret's last character is random
    assert api.remembered(secret[:-1] + other) is None
    elsewhere.revoke("upstream")  # another process: unseen here until the bound passes
    assert api.remembered(secret) is not None
    assert api.authenticate(secret) is None  # the ledger says revoked
    secret = api.create("upstream2", [Scope.enqueue]).secret
    api.authenticate(secret)
    api.revoke("upstream2")  # this process: at once
    assert api.remembered(secret) is None
    assert Tokens(store, recheck=0).remembered(secret) is None
