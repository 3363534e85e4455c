"""The one exception tree of syndicate.

    SyndicateError
    ├── ConfigError              channels.yaml is wrong; carries every Problem found
    ├── NoticeError              a notice is refused; carries every Problem found
    │   ├── NoticeConflict       same id + version already accepted with other content
    │   ├── UnroutableNotice     no channel would carry the notice
    │   └── ApprovalRefused      a decision on a notice's approval is refused (no such
    │                            notice or step, another digest, twice, out of order)
    ├── QueryError               a read asked for something invalid (a filter, a cursor, a channel)
    ├── StoreError               the ledger cannot be read or written
    │   ├── LedgerVersionError   the ledger was written by a newer syndicate
    │   ├── LedgerUnreachable    the ledger's server does not answer now (down, restarting)
    │   └── LeaseLost            a stale owner tried to write a delivery it no longer holds
    └── DeliveryError            a channel did not take a delivery
        ├── TransientDeliveryError   try again later (timeouts, 5xx, 429, SMTP 4xx, ...)
        │   └── InDoubtDeliveryError the request may have reached the channel; look before resending
        └── PermanentDeliveryError   trying again cannot help (4xx, SMTP 5xx, bad host key, ...)

The CLI turns each into one line and an exit code (see ``syndicate.cli``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One mistake in an input, located as precisely as we can."""

    path: str
    message: str
    source: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = f"{self.source}:{self.line}: " if self.line is not None else f"{self.source}: "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""


class _ProblemsError(SyndicateError):
    def __init__(self, problems: Iterable[Problem], headline: str | None = None) -> None:
        self.problems = list(problems)
        self.headline = headline
        super().__init__(self._text())

    def _text(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.headline:
            lines.insert(0, self.headline)
        return "\n".join(lines) if lines else self.__class__.__name__


class ConfigError(_ProblemsError):
    """The configuration (channels.yaml) is invalid."""


class NoticeError(_ProblemsError):
    """A notice was refused."""


class NoticeConflict(NoticeError):
    """The same id and version were accepted before with different content."""


class UnroutableNotice(NoticeError):
    """No configured channel would carry the notice."""


class ApprovalRefused(NoticeError):
    """A decision on a notice's approval was refused; nothing was recorded.

    ``status`` says why as HTTP would: 404 no such notice or version, 409 a
    conflict with what the ledger holds (another digest, a step twice or out
    of order, a rejected notice), 422 a notice that needs no approval.
    """

    def __init__(self, problems: Iterable[Problem], *, status: int = 409) -> None:
        super().__init__(problems)
        self.status = status


class QueryError(_ProblemsError):
    """A read (a filter, a cursor, a channel name) cannot be answered as asked."""


class StoreError(SyndicateError):
    """The ledger cannot be read or written."""


class LedgerVersionError(StoreError):
    """The ledger was written by a newer version of syndicate."""


class LedgerUnreachable(StoreError):
    """The ledger's server does not answer now (down, starting, restarting): it may come back."""


class LeaseLost(StoreError):
    """A worker tried to record a result for a delivery it no longer holds."""


class DeliveryError(SyndicateError):
    """A channel did not take a delivery.

    ``status`` is the protocol's own answer when there was one (an HTTP status
    code, an SMTP reply code); ``retry_after`` is the channel's own request for
    a pause, in seconds.
    """

    def __init__(
        self, message: str, *, status: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class TransientDeliveryError(DeliveryError):
    """The channel may take the delivery if we try again later."""


class InDoubtDeliveryError(TransientDeliveryError):
    """The request may have reached the channel and its answer was lost.

    The next attempt first asks the adapter to look the delivery up (see
    ``Adapter.look_up``) and only sends again if the channel does not have it.
    The ledger keeps the class name: the store finds in-doubt deliveries by it.
    """


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help; the delivery ends as failed."""
