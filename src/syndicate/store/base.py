"""The store interface: outbox and ledger behind one API, whatever the backend.

Notices, deliveries (one notice version to one channel) and attempts (one
try of a delivery, append-only). Times are UTC seconds since the epoch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..approval import Approval, Decision, Trail
from ..audit.chain import Event, Head, Link, Row
from ..errors import LeaseLost, NoticeError

SCHEMA_VERSION = 16  # the newest migration of every backend


class DeliveryState(StrEnum):
    pending = "pending"
    in_flight = "in_flight"
    delivered = "delivered"
    failed = "failed"  # a permanent error: trying again cannot help
    dead = "dead"  # retries exhausted
    superseded = "superseded"  # a newer version reached the channel's queue first: not sent
    cancelled = "cancelled"  # the notice was withdrawn before this was sent

    @property
    def terminal(self) -> bool:
        return self not in {DeliveryState.pending, DeliveryState.in_flight}

    @property
    def set_aside(self) -> bool:
        """Ended without being tried to the end: neither a success nor a failure."""
        return self in {DeliveryState.superseded, DeliveryState.cancelled}


class Purpose(StrEnum):
    """What a delivery does on its channel."""

    publish = "publish"  # put the notice version there (or update what an earlier one put)
    withdrawal = "withdrawal"  # take the withdrawn notice down, or say it is withdrawn
    expiry = "expiry"  # the notice's valid_until has come: take it down or mark it expired


class Outcome(StrEnum):
    delivered = "delivered"
    transient = "transient"
    permanent = "permanent"


@dataclass(frozen=True)
class NoticeRecord:
    """A notice as the store keeps it."""

    id: str
    version: int
    category: str
    notice_type: str
    region_code: str
    title: str
    digest: str
    content: str  # canonical JSON
    accepted_at: float
    publish_at: float  # deliveries are not attempted before this (embargo)
    body_sanitized: bool = False  # sanitising body_html for the channels removed something
    # When the notice stops being valid (its valid_until): expiries are due then. Read from
    # the content, not a column of its own.
    valid_until: float | None = None
    # Statutory rules in warn mode the notice breaks: (rule id, message), kept with it.
    warnings: tuple[tuple[str, str], ...] = ()
    # Approval steps, in order, that must pass before any delivery is created (none: at once).
    approval_steps: tuple[str, ...] = ()
    kind: str = "notice"  # or "alert": an operator alert, kept out of the notice views and tallies


@dataclass(frozen=True)
class AcceptResult:
    """What enqueue did: ``created`` False means the same content was accepted before."""

    created: bool
    channels: list[str]
    accepted_at: float
    # The notice awaits approval: ``channels`` get their deliveries when the last step passes.
    awaiting_approval: bool = False


@dataclass(frozen=True)
class Decided:
    """A decision recorded on a notice version's approval, and what it set going."""

    approval: Approval
    trail: Trail  # with this decision
    channels: list[str]  # deliveries created by it: the routed channels on the last approval


@dataclass(frozen=True)
class AwaitingApproval:
    """A notice version that waits for a decision, and on whom."""

    notice_id: str
    version: int
    title: str
    digest: str
    steps: tuple[str, ...]
    position: int  # the step awaited, from 0
    since: float  # accepted, or the previous step approved

    @property
    def step(self) -> str:
        return self.steps[self.position]


@dataclass(frozen=True)
class ApprovalFigures:
    """A year's approved notice versions: when each was approved and first delivered."""

    recorded: bool  # the ledger holds any approval request at all
    approved: list[tuple[float, float | None]]  # (last approval, first delivered attempt)


@dataclass(frozen=True)
class Claim:
    """A delivery held by one worker under a lease; ``fence`` proves the holder is current."""

    delivery_id: int
    notice_id: str
    notice_version: int
    channel: str
    idempotency_key: str
    fence: int
    notice_digest: str
    attempts: int  # attempts recorded so far, all cycles
    tries: int  # attempts in the current cycle (since enqueue or the last replay)
    first_try_at: float | None  # start of the current cycle's first attempt
    lease_expires_at: float
    # The last attempt's outcome is unknown: its worker died holding the lease, or the
    # channel's answer was lost after the request went out (InDoubtDeliveryError).
    in_doubt: bool = False
    accepted_at: float = 0.0  # when the notice was enqueued: latency is measured from here
    kind: str = "notice"  # the notice's kind: a failed "alert" delivery raises no alert
    purpose: Purpose = Purpose.publish


@dataclass(frozen=True)
class EarlierDelivery:
    """The latest earlier version of a notice on the same channel, and its receipt.

    What an adapter needs to update or retract in place what that version
    published (``previous`` in a channel's templates).
    """

    version: int
    state: DeliveryState
    remote_id: str | None
    remote_url: str | None


@dataclass(frozen=True)
class AttemptRecord:
    """One try of a delivery, as written to the ledger."""

    started_at: float
    finished_at: float
    outcome: Outcome
    error_class: str | None = None
    error_message: str | None = None
    status: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    payload_sha256: str | None = None


@dataclass(frozen=True)
class Next:
    """Where a delivery goes after an attempt: a terminal state, or pending at ``at``."""

    state: DeliveryState
    at: float | None = None


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    notice_id: str
    notice_version: int
    channel: str
    state: DeliveryState
    attempts: int
    next_attempt_at: float | None
    idempotency_key: str
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    updated_at: float
    title: str = ""
    category: str = ""
    purpose: Purpose = Purpose.publish


@dataclass(frozen=True)
class AttemptRow:
    id: int
    delivery_id: int
    notice_id: str
    notice_version: int
    channel: str
    number: int
    worker: str | None
    started_at: float
    finished_at: float
    outcome: Outcome
    error_class: str | None
    error_message: str | None
    status: str | None
    remote_id: str | None
    remote_url: str | None
    payload_sha256: str | None


@dataclass(frozen=True)
class CircuitRow:
    """A channel's circuit breaker as a worker last recorded it."""

    channel: str
    state: str
    failures: int
    reopens_at: float | None
    worker: str | None
    updated_at: float
    probe_until: float | None = None  # half-open: the probe's holder has it until then
    opened_at: float | None = None  # when this outage began: open and half-open keep it


@dataclass(frozen=True)
class Recorded:
    """What a batch of attempt results did to the ledger."""

    written: list[bool]  # per result: False if another worker holds the delivery now
    recovered: list[CircuitRow]  # circuits a delivery closed, as they stood before: open or half


@dataclass(frozen=True)
class FailureGroupRow:
    """Failed or dead deliveries of one channel whose last attempt failed the same way."""

    channel: str
    state: DeliveryState
    error_class: str
    deliveries: int
    latest_at: float
    latest_error: str | None


@dataclass(frozen=True)
class YearCounts:
    """A year's publications: notice versions by category; deliveries by category and channel."""

    notices: dict[str, int]
    routed: dict[tuple[str, str], int]
    delivered: dict[tuple[str, str], int]


@dataclass(frozen=True)
class TokenRecord:
    """A bearer token of the HTTP API as the ledger keeps it: never the secret, only its hash."""

    id: str  # public, part of the token; finds the row without comparing secrets
    name: str
    scopes: tuple[str, ...]
    secret_sha256: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class OperationRow:
    """A write made through the HTTP API, and the token that made it."""

    id: int
    at: float
    actor: str
    action: str
    subject: str


@dataclass(frozen=True)
class Gate:
    """A channel's limits that every worker sharing the ledger obeys together."""

    concurrency: int  # deliveries in flight at once, all workers counted
    failures: int  # transient failures in a row that open the circuit
    cool_down: float  # how long an open circuit stays open before one probe


@dataclass(frozen=True)
class AttemptFilter:
    """Which attempts to read; ``before_id`` continues a newest-first page."""

    notice_id: str | None = None
    channel: str | None = None
    outcome: Outcome | None = None
    since: float | None = None
    limit: int | None = None
    newest_first: bool = False
    notice_version: int | None = None
    error_class: str | None = None
    until: float | None = None  # started before this
    before_id: int | None = None


class NoticeState(StrEnum):
    """Where a notice version stands, from its deliveries."""

    awaiting_approval = "awaiting_approval"  # a step of its approval is still to decide
    rejected = "rejected"  # its approval was rejected: never delivered
    publishing = "publishing"  # some delivery pending or in flight
    published = "published"  # every delivery delivered
    partly_published = "partly_published"  # nothing pending; some failed or dead
    superseded = "superseded"  # a newer version went out instead, on every channel
    withdrawn = "withdrawn"  # the notice was withdrawn


@dataclass(frozen=True)
class NoticeFilter:
    """Which notice versions to list, newest first; ``text`` is sought in title and project code."""

    notice_id: str | None = None
    notice_version: int | None = None
    category: str | None = None
    notice_type: str | None = None
    region: str | None = None  # a region code; a trailing * matches a prefix
    state: NoticeState | None = None
    channel: str | None = None  # routed to this channel
    since: float | None = None  # accepted at or after
    until: float | None = None  # accepted before
    text: str | None = None


@dataclass(frozen=True)
class NoticeRow:
    """A notice version with its deliveries counted by how they stand."""

    pk: int
    id: str
    version: int
    category: str
    notice_type: str
    region_code: str
    title: str
    project_code: str | None
    digest: str
    accepted_at: float
    publish_at: float
    delivered: int
    unfinished: int  # pending or in flight
    ended_badly: int  # failed or dead
    approval: str | None = None  # awaiting_approval | approved | rejected; None: not needed
    set_aside: int = 0  # superseded or cancelled
    withdrawn: bool = False

    @property
    def state(self) -> NoticeState:
        if self.withdrawn:
            return NoticeState.withdrawn
        if self.approval in (NoticeState.awaiting_approval, NoticeState.rejected):
            return NoticeState(self.approval)
        if self.unfinished:
            return NoticeState.publishing
        if self.ended_badly:
            return NoticeState.partly_published
        if self.set_aside and not self.delivered:
            return NoticeState.superseded
        return NoticeState.published


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries to list (newest first); the time range bounds their last change."""

    notice_id: str | None = None
    notice_version: int | None = None
    channel: str | None = None
    state: DeliveryState | None = None
    error_class: str | None = None  # of the delivery's last attempt
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True)
class Backlog:
    """A channel's unfinished deliveries and since when the oldest of them has been due."""

    pending: int  # pending or in flight
    oldest_due_at: float | None  # the earliest accept (or embargo end) among those already due


@dataclass(frozen=True)
class PauseRow:
    """An operator's pause of a channel: the worker starts no delivery there until resumed."""

    channel: str
    paused_at: float
    paused_by: str | None


def idempotency_key(
    notice_id: str, version: int, channel: str, purpose: Purpose = Purpose.publish
) -> str:
    """One key per delivery, the same on every attempt (header, Message-ID, file name, item id).

    A publication's key is ``<id>.v<version>.<channel>``; a withdrawal's or an
    expiry's adds ``.withdrawal`` / ``.expiry``.
    """
    key = f"{notice_id}.v{version}.{channel}"
    return key if purpose is Purpose.publish else f"{key}.{purpose.value}"


@dataclass(frozen=True)
class Withdrawal:
    """A notice taken back: every version, on every channel."""

    notice_id: str
    version: int  # the newest version when it was withdrawn
    reason: str
    at: float
    by: str | None = None


@dataclass(frozen=True)
class Withdrawn:
    """What ``withdraw`` did: deliveries cancelled, and the channels asked to take it down."""

    withdrawal: Withdrawal
    cancelled: int
    channels: list[str]


class Store(ABC):
    """The outbox and the ledger.

    Synchronous on purpose: the worker already runs every ledger write in one
    thread of its own (so deliveries keep moving during an fsync or a network
    round trip), and the CLI, the report and the read models are synchronous;
    both drivers (sqlite3, psycopg) block well in a thread.
    """

    schema_found: int = SCHEMA_VERSION  # the ledger's version when opened, before migrating
    schema_version: int = SCHEMA_VERSION  # its version now

    @abstractmethod
    def accept(
        self,
        notice: NoticeRecord,
        channels: Sequence[str],
        now: float,
        *,
        by: str | None = None,
        expiring: Collection[str] = (),
    ) -> AcceptResult:
        """Store a notice and one pending delivery per channel in one transaction.

        Idempotent on (id, version): the same digest again returns
        ``created=False``; a different digest raises NoticeConflict. A new
        version also goes to every channel an earlier version went to, and
        supersedes what of them is still pending there; a version below the
        newest, or any version of a withdrawn notice, is refused (NoticeError).
        ``expiring`` are the channels whose adapter handles an expiry: those the
        notice goes to get one, due at its ``valid_until``. ``by`` (a token's
        name) is recorded as an operation in the same transaction.
        """

    @abstractmethod
    def decide(
        self,
        notice_id: str,
        version: int,
        step: str,
        decision: Decision,
        *,
        approver: str,
        digest: str,
        now: float,
        comment: str | None = None,
        via: str | None = None,
        expiring: Collection[str] = (),
    ) -> Decided:
        """Record a decision on the version's pending step, in one transaction.

        ApprovalRefused, nothing written, for a notice or version not in the
        ledger, one that needs no approval, another digest, a step not next
        (or decided already), a rejected notice. The last step approved
        creates the version's deliveries in the same transaction (following
        the original and superseding as ``accept`` does; ``expiring`` as there).
        """

    @abstractmethod
    def approval_trails(self, notice_id: str) -> dict[int, Trail]:
        """Each version's approval trail, by version; versions needing no approval are absent."""

    @abstractmethod
    def awaiting_approvals(self, limit: int) -> list[AwaitingApproval]:
        """Notice versions waiting for a decision, oldest first."""

    @abstractmethod
    def approval_figures(self, since: float, until: float) -> ApprovalFigures:
        """Approved notice versions whose publish_at is in [since, until)."""

    def accept_many(
        self,
        notices: Sequence[tuple[NoticeRecord, Sequence[str]]],
        now: float,
        *,
        by: str | None = None,
        expiring: Collection[str] = (),
        authors: Sequence[str | None] | None = None,
    ) -> list[AcceptResult | NoticeError]:
        """``accept`` for each (notice, channels), in one transaction: one commit for a batch.

        A refusal (a conflict, a withdrawn notice, a version lower than the newest) is
        that notice's result, in its place; the others are still accepted. ``authors``,
        one per notice, names who enqueued each (a group of requests from several
        tokens); without it, ``by`` enqueued them all.
        """
        results: list[AcceptResult | NoticeError] = []
        each = authors if authors is not None else [by] * len(notices)
        for (notice, channels), author in zip(notices, each, strict=True):
            try:
                results.append(self.accept(notice, channels, now, by=author, expiring=expiring))
            except NoticeError as exc:
                results.append(exc)
        return results

    @abstractmethod
    def withdraw(
        self, notice_id: str, reason: str, now: float, *, by: str | None = None
    ) -> Withdrawn:
        """Withdraw every version of a notice, in one transaction.

        Pending deliveries are cancelled; every channel that carries a version
        (or is being sent one) gets a pending withdrawal delivery. NoticeError if
        the notice is unknown or withdrawn already (nothing changes).
        """

    @abstractmethod
    def withdrawal(self, notice_id: str) -> Withdrawal | None:
        """The notice's withdrawal, if it was withdrawn."""

    @abstractmethod
    def claim_many(
        self,
        worker: str,
        now: float,
        lease: float,
        limits: Mapping[str | None, int],
        gates: Mapping[str, Gate] | None = None,
    ) -> list[Claim]:
        """Take due deliveries (pending and due, or leased and expired) in one transaction.

        ``limits`` says how many at most per channel (``None``: any channel).
        A channel with a gate also gets no more than its concurrency less what
        all workers hold, and nothing while its circuit is open (one probe
        when it half-opens).
        """

    def claim(
        self, worker: str, now: float, lease: float, limit: int, channel: str | None = None
    ) -> list[Claim]:
        """Take up to ``limit`` due deliveries, of one channel or of any."""
        return self.claim_many(worker, now, lease, {channel: limit})

    @abstractmethod
    def record_many(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> list[bool]:
        """Append attempts and move their deliveries on, in one transaction.

        A result whose ``claim.fence`` is no longer current (another worker
        has since claimed the delivery) is not written: False in its place.
        """

    def record_batch(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> Recorded:
        """``record_many``, telling also which channels' circuits a delivery closed."""
        return Recorded(self.record_many(worker, results), [])

    def record_and_claim(
        self,
        worker: str,
        results: Sequence[tuple[Claim, AttemptRecord, Next]],
        now: float,
        lease: float,
        limits: Mapping[str | None, int],
        gates: Mapping[str, Gate] | None = None,
    ) -> tuple[Recorded, list[Claim]]:
        """``record_batch``, then ``claim_many`` for the slots the results freed.

        A backend where every write is serialised anyway does both in one
        transaction (one commit, one flush to disk); this one does two.
        """
        recorded = self.record_batch(worker, results)
        return recorded, self.claim_many(worker, now, lease, limits, gates) if limits else []

    def record(self, claim: Claim, worker: str, attempt: AttemptRecord, next_: Next) -> None:
        """Record one attempt; LeaseLost if another worker holds the delivery now."""
        if not self.record_many(worker, [(claim, attempt, next_)])[0]:
            raise LeaseLost(
                f"delivery {claim.idempotency_key} was claimed by another worker; "
                "this result is not recorded"
            )

    @abstractmethod
    def circuit_failure(
        self, channel: str, gate: Gate, now: float, worker: str
    ) -> tuple[CircuitRow, bool]:
        """Count a transient failure against ``channel``'s circuit; True if it opened it.

        (A delivery closes the circuit as its attempt is recorded.)
        """

    @abstractmethod
    def release_probe(self, channel: str, now: float) -> None:
        """A half-open circuit's probe told nothing (refused for good, asked to wait,
        interrupted): the next due delivery may probe."""

    @abstractmethod
    def book_start(self, channel: str, interval: float, now: float) -> float:
        """Book the channel's next start, ``interval`` after the one booked before by any
        worker; when this one may start.
        """

    @abstractmethod
    def replay(
        self,
        now: float,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        states: Sequence[DeliveryState] = (DeliveryState.failed, DeliveryState.dead),
        notice_version: int | None = None,
        delivery_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        error_class: str | None = None,
        dry_run: bool = False,
        by: str | None = None,
    ) -> int:
        """Put failed or dead deliveries back to pending with a fresh retry budget; how many.

        ``since``/``until`` bound when the deliveries ended; ``error_class`` narrows to
        deliveries whose last attempt failed so. ``dry_run`` only
        counts them. ``by`` (a token's name) is recorded as an operation in the
        same transaction. Never replayed, whatever the filter: a delivery of a
        version that a newer one has overtaken on its channel, or one of a withdrawn
        notice (its withdrawal excepted) — sending either would publish what is outdated.
        """

    @abstractmethod
    def notice(self, notice_id: str, version: int) -> NoticeRecord | None: ...

    @abstractmethod
    def lease_owners(self) -> list[str]:
        """The workers holding deliveries in flight now."""

    @abstractmethod
    def expire_leases(self, owner: str, now: float) -> int:
        """End ``owner``'s leases now (it is known dead); how many deliveries that frees."""

    @abstractmethod
    def earlier_delivery(
        self, notice_id: str, version: int, channel: str, *, including: bool = False
    ) -> EarlierDelivery | None:
        """What ``channel`` carries of the notice: its newest version below ``version``
        (up to it, ``including``) delivered there, if any.

        Only delivered publications count: one superseded, cancelled, failed or
        dead published nothing.
        """

    @abstractmethod
    def deliveries(
        self,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        state: DeliveryState | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRow]: ...

    @abstractmethod
    def attempts(self, filter: AttemptFilter) -> Iterator[AttemptRow]: ...

    @abstractmethod
    def counts(self) -> dict[tuple[str, DeliveryState], int]:
        """Deliveries by (channel, state)."""

    @abstractmethod
    def year_counts(self, year: int) -> YearCounts:
        """What the notices published in ``year`` (Asia/Shanghai) came to."""

    @abstractmethod
    def next_due(self, now: float | None = None) -> float | None:
        """When the earliest pending or leased delivery becomes claimable, if any.

        With ``now``: expiries scheduled after ``now`` are left out (they are not
        work left to do, only a notice's valid_until still to come).
        """

    @abstractmethod
    def changed(self) -> bool:
        """The wake-up hook: True if the ledger may have new work since the last call.

        Cheap and non-blocking, asked every poll interval. SQLite answers from
        ``PRAGMA data_version``; PostgreSQL from LISTEN/NOTIFY, where a lost
        notification only delays work until the next poll finds it.
        """

    @abstractmethod
    def set_circuit(self, row: CircuitRow) -> None:
        """Record a channel's circuit breaker state (open, half-open, closed)."""

    @abstractmethod
    def circuits(self) -> dict[str, CircuitRow]:
        """The last recorded circuit breaker state of each channel."""

    # --- the hash chain (read by syndicate.audit.verify) ---------------------

    @abstractmethod
    def chain_head(self) -> Head:
        """The newest link as the ledger records it."""

    @abstractmethod
    def chain_links(self, after: int, limit: int) -> list[Link]:
        """Links with seq > ``after``, in seq order."""

    @abstractmethod
    def chain_hash_at(self, seq: int) -> str | None:
        """The hash of chain row ``seq``, if there is one."""

    @abstractmethod
    def chain_links_of(self, kind: str, after: int, limit: int) -> list[Link]:
        """Links of ``kind`` with ref > ``after``, in ref order."""

    @abstractmethod
    def chain_last_at(self, kind: str) -> dict[int, float]:
        """For each ref with links of ``kind``: the time of its newest (when each delivery
        was last read back)."""

    @abstractmethod
    def last_checks(self, since: float) -> dict[int, float]:
        """Each delivery read back (a check chained) at or after ``since``: its newest
        check's time. A delivery last read back before then is not in it."""

    @abstractmethod
    def chain_last_states(self, after: int, limit: int) -> list[Link]:
        """The newest link of each delivery above ``after``, in delivery order."""

    @abstractmethod
    def ledger_rows(self, table: str, after: int, limit: int) -> list[Row]:
        """Rows of notices (by pk), deliveries, attempts, notice_warnings or operations (by id)
        above ``after``, as stored."""

    @abstractmethod
    def ledger_state(self, table: str) -> list[Row]:
        """Every row of tokens or pauses, as stored: small tables whose rows change state."""

    @abstractmethod
    def archived_attempts(self, after: int, limit: int) -> list[tuple[int, int]]:
        """(attempt id, archive link seq) of attempts moved to an archive, above ``after``."""

    @abstractmethod
    def append_to_chain(self, events: Sequence[Event]) -> Head | None:
        """Chain ``events`` that record no row of their own (fetch-back checks) in one go."""

    @abstractmethod
    def archivable_attempts(self, before: float, after: int, limit: int) -> list[Row]:
        """Attempts finished before ``before`` whose delivery has ended, above ``after``."""

    @abstractmethod
    def archive_attempts(self, ids: Sequence[int], body: Mapping[str, Any], at: float) -> Head:
        """In one transaction: chain the archive (``body``), list ``ids`` under it, delete them."""

    # --- what the read models ask (newest first, keyset pages) ------------------

    @abstractmethod
    def notice_page(
        self, filter: NoticeFilter, before_pk: int | None, limit: int
    ) -> list[NoticeRow]:
        """Notice versions matching ``filter`` with pk below ``before_pk``, newest first."""

    @abstractmethod
    def notice_versions(self, notice_id: str) -> list[NoticeRecord]:
        """Every stored version of a notice, oldest first."""

    @abstractmethod
    def delivery_page(
        self, filter: DeliveryFilter, before_id: int | None, limit: int
    ) -> list[DeliveryRow]:
        """Deliveries matching ``filter`` with id below ``before_id``, newest first."""

    @abstractmethod
    def failure_groups(self) -> list[FailureGroupRow]:
        """Failed and dead deliveries by channel, state and last error class, largest first."""

    @abstractmethod
    def accepted_since(self, since: float) -> int:
        """How many notice versions were accepted at or after ``since``."""

    @abstractmethod
    def backlog(self, now: float) -> dict[str, Backlog]:
        """Each channel's pending and in-flight deliveries, and the oldest one's due time."""

    @abstractmethod
    def attempt_outcomes(self, since: float) -> dict[tuple[str, Outcome], int]:
        """Attempts started since ``since``, to the minute (tallies), by (channel, outcome)."""

    @abstractmethod
    def last_failures(self) -> dict[str, AttemptRow]:
        """Each channel's most recent attempt that did not deliver."""

    @abstractmethod
    def set_paused(self, channel: str, paused: bool, now: float, by: str | None = None) -> bool:
        """Pause or resume a channel; True if that changed anything."""

    @abstractmethod
    def paused(self) -> dict[str, PauseRow]:
        """The channels an operator has paused."""

    @abstractmethod
    def add_token(self, token: TokenRecord) -> None:
        """Store a new token; StoreError if an unrevoked token already has its name."""

    @abstractmethod
    def token(self, token_id: str) -> TokenRecord | None: ...

    @abstractmethod
    def tokens(self) -> list[TokenRecord]:
        """Every token, revoked ones too, oldest first."""

    @abstractmethod
    def revoke_token(self, name: str, now: float) -> int:
        """Revoke the unrevoked token called ``name``; how many were revoked."""

    @abstractmethod
    def record_operation(self, at: float, actor: str, action: str, subject: str) -> None:
        """Record a write made through the API and who made it."""

    @abstractmethod
    def operations(self, limit: int = 100) -> list[OperationRow]:
        """The latest recorded operations, newest first."""

    @abstractmethod
    def close(self) -> None: ...
