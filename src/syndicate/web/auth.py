"""Bearer tokens with scopes: 401 when the token is missing or wrong, 403 when it may not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..store.base import TokenRecord
from ..syndicator import Syndicator
from ..tokens import Scope, grants
from .problems import ProblemError

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `syndicate token create --scope SCOPE --name NAME`.",
)


def syndicator(request: Request) -> Syndicator:
    """The application object every endpoint renders.

    A plain function, so FastAPI calls it in a worker thread: made ``async`` (no
    hop), the read endpoints measured slower, not faster (commit 79f1ebf).
    """
    found: Syndicator = request.app.state.syndicator
    return found


def require(scope: Scope) -> Callable[..., Awaitable[TokenRecord]]:
    """A dependency: the caller's token, which must grant ``scope``."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenRecord:
        if credentials is None:
            raise ProblemError(
                401,
                "send a bearer token: Authorization: Bearer <token>",
                headers={"WWW-Authenticate": 'Bearer realm="syndicate"'},
            )
        tokens = syndicator(request).tokens
        # A token confirmed moments ago is taken without a ledger read or a thread
        # (tokens.RECHECK_SECONDS bounds how long a revocation elsewhere goes unseen).
        token = tokens.remembered(credentials.credentials)
        if token is None:
            token = await run_in_threadpool(tokens.authenticate, credentials.credentials)
        if token is None:
            raise ProblemError(
                401,
                "the token is unknown or revoked",
                headers={"WWW-Authenticate": 'Bearer realm="syndicate", error="invalid_token"'},
            )
        if not grants(token, scope):
            raise ProblemError(
                403,
                f"the token {token.name!r} lacks the scope {scope.value!r}",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope.value}"'
                },
            )
        request.state.token = token
        return token

    return check
