"""What every SQL backend does the same way, over its own named queries.

A backend supplies transactions (``_write``, ``_reading``) whose ``Tx`` runs
its named queries; the ledger's logic — accepting, claiming under a lease and
a fence, recording, the limits every worker sharing the ledger obeys — is
written once here. Both backends name their queries and parameters alike.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from ..approval import Approval, ApprovalState, Decision, Trail, next_position
from ..audit import events as E
from ..audit.chain import Event, Head, Link
from ..circuit import CircuitState, admit, after_failure, after_success
from ..errors import ApprovalRefused, NoticeError, Problem, StoreError
from ..notice import LOCAL_TZ
from . import chaining
from . import rows as R
from .base import (
    AcceptResult,
    ApprovalFigures,
    AttemptFilter,
    AttemptRecord,
    AttemptRow,
    AwaitingApproval,
    Backlog,
    CircuitRow,
    Claim,
    Decided,
    DeliveryFilter,
    DeliveryRow,
    DeliveryState,
    EarlierDelivery,
    FailureGroupRow,
    Gate,
    Next,
    NoticeFilter,
    NoticeRecord,
    NoticeRow,
    NoticeState,
    OperationRow,
    Outcome,
    PauseRow,
    Purpose,
    Recorded,
    Store,
    TokenRecord,
    Withdrawal,
    Withdrawn,
    YearCounts,
    idempotency_key,
)

PAGE = 1000


class Tx(Protocol):
    """One connection inside one transaction (or a read), running named queries."""

    def rows(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> list[R.Row]:
        """Run query ``name`` (its ``{slots}`` filled from ``fmt``) and return its rows."""

    def run(self, name: str, params: Mapping[str, Any] | None = None, **fmt: str) -> int:
        """Run query ``name``; how many rows it changed."""

    def many(self, name: str, params: Sequence[Mapping[str, Any]]) -> None:
        """Run query ``name`` once per parameter set."""

    def raw(self, query: str) -> list[R.Row]:
        """Run SQL that is not a named query (copying whole tables)."""

    def raw_many(self, query: str, params: Sequence[Sequence[Any]]) -> None: ...


class SqlStore(Store):
    """The ledger's logic over a backend's named queries."""

    no_limit: Any = None  # what LIMIT takes to mean "all"

    @abstractmethod
    def _write(self) -> AbstractContextManager[Tx]:
        """A write transaction: committed when the block ends, rolled back on an error."""

    @abstractmethod
    def _reading(self) -> AbstractContextManager[Tx]:
        """A read."""

    @abstractmethod
    def _where(self, conditions: Sequence[str]) -> str:
        """The filter fragments named ``conditions``, ANDed."""

    @abstractmethod
    def _fragment(self, name: str) -> str:
        """A named piece of SQL (a filter, a HAVING clause) to put into a query's slot."""

    def _states_param(self, states: Sequence[DeliveryState]) -> Any:
        return [s.value for s in states]

    def _notify(self, tx: Tx) -> None:
        """Tell waiting workers there is new work (a hint; they poll as well)."""

    def _lock_channel(self, tx: Tx, channel: str) -> None:
        """Hold ``channel`` against other workers' claims until the transaction ends."""
        tx.run("lock_channel", {"channel": channel})

    def _try_lock_channel(self, tx: Tx, channel: str) -> bool:
        """Hold ``channel`` as ``_lock_channel`` does, unless another worker holds it now."""
        self._lock_channel(tx, channel)
        return True

    # --- writes --------------------------------------------------------------

    def _lock_notice(self, tx: Tx, notice_id: str) -> None:
        """Decide one notice's versions and withdrawal one at a time until the transaction ends."""
        tx.run("lock_notice_id", {"id": notice_id})

    def accept(
        self,
        notice: NoticeRecord,
        channels: Sequence[str],
        now: float,
        *,
        by: str | None = None,
        expiring: Collection[str] = (),
    ) -> AcceptResult:
        with self._write() as tx:
            events: list[Event] = []
            result = self._accept(tx, notice, channels, now, by, events, expiring)
            chaining.append(tx, events)
        return result

    def accept_many(
        self,
        notices: Sequence[tuple[NoticeRecord, Sequence[str]]],
        now: float,
        *,
        by: str | None = None,
        expiring: Collection[str] = (),
        authors: Sequence[str | None] | None = None,
    ) -> list[AcceptResult | NoticeError]:
        results: list[AcceptResult | NoticeError | None] = [None] * len(notices)
        each = authors if authors is not None else [by] * len(notices)
        if len(each) != len(notices):
            raise ValueError("one author per notice")
        # Tally rows in key order across the whole batch (notices by day and category), and
        # the chain's head once, last: the same order every writer keeps, so none deadlock.
        order = sorted(
            range(len(notices)), key=lambda i: (_day(notices[i][0]), notices[i][0].category)
        )
        with self._write() as tx:
            events: list[Event] = []
            for notice_id in sorted({n.id for n, _ in notices}):  # one order: no deadlock
                self._lock_notice(tx, notice_id)
            for i in order:
                notice, channels = notices[i]
                try:
                    results[i] = self._accept(tx, notice, channels, now, each[i], events, expiring)
                except NoticeError as exc:  # found before anything of it was written
                    results[i] = exc
            chaining.append(tx, events)
        return [r for r in results if r is not None]

    def _accept(
        self,
        tx: Tx,
        notice: NoticeRecord,
        channels: Sequence[str],
        now: float,
        by: str | None,
        events: list[Event],
        expiring: Collection[str] = (),
    ) -> AcceptResult:
        """One notice accepted inside ``tx``; the events to chain are added to ``events``."""
        self._lock_notice(tx, notice.id)
        found = tx.rows("find_notice", {"id": notice.id, "version": notice.version})
        if found:
            old = found[0]
            if old["digest"] != notice.digest:
                raise R.conflict(notice, old["digest"])
            routed = [r["channel"] for r in tx.rows("routed_channels", {"pk": old["pk"]})]
            # Still awaiting approval (or rejected): the channels it waits for.
            waiting = tx.rows("approval_request", {"pk": old["pk"]})
            if waiting and not routed:
                return AcceptResult(
                    False, json.loads(waiting[0]["channels"]), old["accepted_at"], True
                )
            return AcceptResult(False, routed, old["accepted_at"])
        self._refuse_out_of_turn(tx, notice)
        day = _day(notice)
        (stored,) = tx.rows(
            "insert_notice", {**R.notice_params(notice), "publish_day": day, "accepted_at": now}
        )
        events.append(E.notice_accepted(stored, now))
        for rule, message in notice.warnings:
            (warning,) = tx.rows(
                "insert_warning", {"notice_pk": stored["pk"], "rule": rule, "message": message}
            )
            events.append(E.warning_recorded(warning, now))
        awaiting = bool(notice.approval_steps)
        if awaiting:
            # Nothing is delivered, counted or superseded until the last step is approved.
            (request,) = tx.rows(
                "insert_approval_request",
                {
                    "notice_pk": stored["pk"],
                    "steps": json.dumps(list(notice.approval_steps), ensure_ascii=False),
                    "step_count": len(notice.approval_steps),
                    "channels": json.dumps(list(channels), ensure_ascii=False),
                },
            )
            events.append(E.approval_requested(request, now))
        else:
            planned = self._create_deliveries(
                tx, stored, day, channels, now, notice.valid_until, expiring
            )
            channels = planned.channels
            events += planned.events
        if by is not None:
            subject = f"{notice.id}.v{notice.version}"
            events.append(self._operation(tx, now, by, "enqueue", subject))
        return AcceptResult(True, list(channels), now, awaiting)

    def _create_deliveries(
        self,
        tx: Tx,
        notice: R.Row,
        day: str,
        channels: Sequence[str],
        now: float,
        valid_until: float | None,
        expiring: Collection[str],
    ) -> _Planned:
        """A notice version's deliveries, counted in the yearly tallies; the events to chain.

        The one way deliveries come to be: at enqueue, or when the last approval step
        passes. ``notice`` is its stored row (pk, id, version, category, publish_at).
        The version goes to ``channels`` and to every channel an earlier version went
        to; what earlier versions still have pending there is superseded. A channel in
        ``expiring`` also gets an expiry, due at ``valid_until``.
        """
        channels = self._followed(tx, notice["id"], notice["version"], channels)
        due = max(now, float(notice["publish_at"]))
        planned = [(ch, Purpose.publish, due) for ch in channels]
        if valid_until is not None:
            planned += [(ch, Purpose.expiry, valid_until) for ch in channels if ch in expiring]
        superseded = tx.rows(
            "supersede_earlier",
            {
                "id": notice["id"],
                "version": notice["version"],
                "now": now,
                **self._channels_param(channels),
            },
        )
        events = [E.delivery_set_aside(r, now) for r in superseded]
        routed: dict[tuple[str, str, str], int] = {}
        if R.kind_of(notice) == "notice":  # an operator alert is no published notice
            routed = {(day, notice["category"], ch): 1 for ch in ["", *channels]}
        self._tally(tx, routed=routed, set_aside=superseded)
        for ch, purpose, at in planned:
            key = idempotency_key(notice["id"], notice["version"], ch, purpose)
            (created,) = tx.rows(
                "insert_delivery",
                {
                    "notice_pk": notice["pk"],
                    "channel": ch,
                    "idempotency_key": key,
                    "due": at,
                    "now": now,
                    "purpose": purpose.value,
                },
            )
            events.append(E.delivery_created(created, now))
        if channels and due <= now:
            self._notify(tx)
        return _Planned(channels, events)

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
        what = f"{notice_id}.v{version}"
        with self._write() as tx:
            self._lock_notice(tx, notice_id)
            found = tx.rows("notice_to_decide", {"id": notice_id, "version": version})
            if not found:
                raise ApprovalRefused([Problem("", f"no notice {what} in the ledger")], status=404)
            notice = found[0]
            if tx.rows("withdrawal", {"notice_id": notice_id}):
                raise ApprovalRefused(
                    [Problem("", f"notice {notice_id} was withdrawn: nothing is left to approve")],
                    status=409,
                )
            (latest,) = tx.rows("latest_version", {"id": notice_id})
            if int(latest["version"]) > version:
                # Its deliveries would follow the newer version's and overwrite it.
                raise ApprovalRefused(
                    [
                        Problem(
                            "version",
                            f"version {latest['version']} of {notice_id} was accepted since: "
                            f"version {version} is out of date and is not published",
                        )
                    ],
                    status=409,
                )
            request = tx.rows("approval_request_locked", {"pk": notice["pk"]})
            if not request:
                raise ApprovalRefused(
                    [Problem("", f"{what} needs no approval: it was delivered as accepted")],
                    status=422,
                )
            steps = tuple(json.loads(request[0]["steps"]))
            before = Trail(
                steps, tuple(R.approval(r) for r in tx.rows("approvals_of", {"pk": notice["pk"]}))
            )
            position = next_position(what, notice["digest"], before, step, digest)
            (row,) = tx.rows(
                "insert_approval",
                {
                    "notice_pk": notice["pk"],
                    "position": position,
                    "step": step,
                    "decision": decision.value,
                    "approver": approver,
                    "digest": digest,
                    "comment": comment,
                    "via": via,
                    "at": now,
                },
            )
            events = [E.approval_decided(row, now)]
            trail = Trail(steps, (*before.decisions, R.approval(row)))
            channels: list[str] = []
            if trail.state is ApprovalState.approved:
                planned = self._create_deliveries(
                    tx,
                    notice,
                    notice["publish_day"],
                    json.loads(request[0]["channels"]),
                    now,
                    _valid_until(notice["content"]),
                    expiring,
                )
                channels, events = planned.channels, [*events, *planned.events]
            if via is not None:
                events.append(self._operation(tx, now, via, decision.value, f"{what} {step}"))
            chaining.append(tx, events)
        return Decided(R.approval(row), trail, channels)

    def _refuse_out_of_turn(self, tx: Tx, notice: NoticeRecord) -> None:
        """A withdrawn notice takes no version; a new version is newer than every stored one."""
        withdrawn = tx.rows("withdrawal", {"notice_id": notice.id})
        if withdrawn:
            raise R.withdrawn(notice, withdrawn[0])
        (latest,) = tx.rows("latest_version", {"id": notice.id})
        if latest["version"] is not None and notice.version < int(latest["version"]):
            raise R.stale_version(notice, int(latest["version"]))

    def _followed(self, tx: Tx, notice_id: str, version: int, channels: Sequence[str]) -> list[str]:
        """``channels``, and after them every channel an earlier version went to."""
        earlier = tx.rows("earlier_channels", {"id": notice_id, "version": version})
        return [*channels, *(r["channel"] for r in earlier if r["channel"] not in channels)]

    def _channels_param(self, channels: Sequence[str]) -> dict[str, Any]:
        return {"channel_list": list(channels)}

    def withdraw(
        self, notice_id: str, reason: str, now: float, *, by: str | None = None
    ) -> Withdrawn:
        with self._write() as tx:
            self._lock_notice(tx, notice_id)
            versions = tx.rows("notice_versions", {"id": notice_id})
            if not versions:
                raise NoticeError([Problem("", f"no notice {notice_id} in the ledger")])
            before = tx.rows("withdrawal", {"notice_id": notice_id})
            if before:
                w = R.withdrawal(before[0])
                raise NoticeError(
                    [
                        Problem(
                            "",
                            f"notice {notice_id} was withdrawn already (version {w.version}, "
                            f"reason: {w.reason}); nothing changed",
                        )
                    ]
                )
            latest = versions[-1]
            (row,) = tx.rows(
                "insert_withdrawal",
                {
                    "notice_id": notice_id,
                    "version": latest["version"],
                    "reason": reason,
                    "at": now,
                    "by": by,
                },
            )
            events = [E.notice_withdrawn(row, now)]
            cancelled = tx.rows("cancel_pending", {"id": notice_id, "now": now})
            events += [E.delivery_set_aside(r, now) for r in cancelled]
            self._tally(tx, set_aside=cancelled)
            carrying = [r["channel"] for r in tx.rows("carrying_channels", {"id": notice_id})]
            (pk,) = tx.rows("find_notice", {"id": notice_id, "version": latest["version"]})
            for ch in carrying:
                key = idempotency_key(notice_id, latest["version"], ch, Purpose.withdrawal)
                (created,) = tx.rows(
                    "insert_delivery",
                    {
                        "notice_pk": pk["pk"],
                        "channel": ch,
                        "idempotency_key": key,
                        "due": now,
                        "now": now,
                        "purpose": Purpose.withdrawal.value,
                    },
                )
                events.append(E.delivery_created(created, now))
            if by is not None:
                events.append(self._operation(tx, now, by, "withdraw", notice_id))
            chaining.append(tx, events)
            if carrying:
                self._notify(tx)
        return Withdrawn(R.withdrawal(row), len(cancelled), carrying)

    def withdrawal(self, notice_id: str) -> Withdrawal | None:
        with self._reading() as tx:
            found = tx.rows("withdrawal", {"notice_id": notice_id})
        return R.withdrawal(found[0]) if found else None

    def claim_many(
        self,
        worker: str,
        now: float,
        lease: float,
        limits: Mapping[str | None, int],
        gates: Mapping[str, Gate] | None = None,
    ) -> list[Claim]:
        with self._write() as tx:
            return self._claim_in(tx, worker, now, lease, limits, gates or {})

    def _claim_in(
        self,
        tx: Tx,
        worker: str,
        now: float,
        lease: float,
        limits: Mapping[str | None, int],
        gates: Mapping[str, Gate],
    ) -> list[Claim]:
        """``claim_many`` in the caller's write transaction."""
        expires = now + lease
        claims: list[Claim] = []
        # Channels in one order: two workers never wait on each other's locks in a circle.
        for channel in sorted(limits, key=lambda c: (c is not None, c or "")):
            limit = limits[channel]
            gate = gates.get(channel) if channel is not None else None
            if gate is not None and channel is not None and limit > 0:
                limit = self._gate(tx, channel, gate, limit, worker, now, lease)
            if limit <= 0:
                continue
            params = {"now": now, "channel": channel, "limit": limit}
            params |= {"worker": worker, "expires": expires}
            taken = [R.claim(r, expires) for r in self._take(tx, channel, params)]
            claims += taken
            if gate is not None and channel is not None and not taken:
                self._probe_unused(tx, channel, now)
        return claims

    def _take(self, tx: Tx, channel: str | None, params: Mapping[str, Any]) -> list[R.Row]:
        """Lease up to ``params['limit']`` due deliveries (of ``channel``, or of any)."""
        where = self._where([] if channel is None else ["filter_due_channel"])
        return tx.rows("claim", params, where=where)

    def _gate(
        self, tx: Tx, channel: str, gate: Gate, want: int, worker: str, now: float, lease: float
    ) -> int:
        """How many of ``channel``'s deliveries this worker may take now, all workers counted."""
        # A channel another worker is claiming right now is left to it: no worker waits.
        if not self._try_lock_channel(tx, channel):
            return 0
        (row,) = tx.rows("gate_of_channel", {"channel": channel, "now": now})
        circuit = R.circuit_row(row) if row["state"] is not None else None
        allowed, probing = admit(circuit, want, now, now + lease, worker)
        if allowed <= 0:
            return 0
        if probing is not None:
            tx.run("set_circuit", R.circuit_params(probing))
        return min(allowed, gate.concurrency - int(row["in_flight"]))

    def _probe_unused(self, tx: Tx, channel: str, now: float) -> None:
        """A probe found nothing due: let the next due delivery probe instead."""
        tx.run("release_probe", {"channel": channel, "now": now})

    def record_many(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> list[bool]:
        return self.record_batch(worker, results).written

    def record_batch(
        self, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> Recorded:
        with self._write() as tx:
            return self._record_in(tx, worker, results)

    def _record_in(
        self, tx: Tx, worker: str, results: Sequence[tuple[Claim, AttemptRecord, Next]]
    ) -> Recorded:
        """``record_batch`` in the caller's write transaction."""
        recorded = []
        recovered: list[CircuitRow] = []
        minutes: dict[tuple[int, str, str], int] = {}
        failed: dict[str, int] = {}
        events: list[Event] = []
        delivered: dict[str, float] = {}
        tallied: list[tuple[int, str]] = []
        set_aside: list[R.Row] = []
        for claim, a, next_ in results:
            found = tx.rows("finish_delivery", R.finish_params(claim, a, next_))
            if not found:  # another worker holds it now: this result is not ours to write
                recorded.append(False)
                continue
            row = found[0]
            if next_.state is DeliveryState.delivered:
                if row["purpose"] == Purpose.publish:  # the tallies count publications
                    tallied.append((row["notice_pk"], row["channel"]))
                delivered[claim.channel] = a.finished_at
            (attempt,) = tx.rows(
                "insert_attempt", R.attempt_params(claim, worker, a, row["attempts"])
            )
            key = (int(a.started_at // 60), claim.channel, a.outcome.value)
            minutes[key] = minutes.get(key, 0) + 1
            if a.outcome is not Outcome.delivered:
                failed[claim.channel] = max(failed.get(claim.channel, 0), int(attempt["id"]))
            events.append(E.attempt_recorded(attempt, row, a.finished_at))
            if next_.state is DeliveryState.pending:
                # Overtaken while its attempt ran: a retry would send what is outdated.
                aside = tx.rows("set_aside_if_overtaken", {"delivery_id": claim.delivery_id})
                events += [E.delivery_set_aside(r, a.finished_at) for r in aside]
                set_aside += aside
            recorded.append(True)
        self._tally(tx, delivered=tallied, set_aside=set_aside)
        # Channel health reads these, never the attempt log: rows in key order, as always.
        tx.many(
            "tally_attempts",
            [
                {"minute": m, "channel": ch, "outcome": o, "n": n}
                for (m, ch, o), n in sorted(minutes.items())
            ],
        )
        tx.many(
            "note_failure",
            [{"channel": ch, "attempt_id": i} for ch, i in sorted(failed.items())],
        )
        # A delivery closes its channel's circuit (in the same transaction: no extra commit).
        for channel, at in sorted(delivered.items()):
            found = tx.rows("circuit_of_channel", {"channel": channel})
            before = R.circuit_row(found[0]) if found else None
            if before is not None and before.state != CircuitState.closed:
                recovered.append(before)
            tx.run("close_circuit", R.circuit_params(after_success(channel, at, worker)))
        chaining.append(tx, events)  # the chain's head last: writers queue on it
        return Recorded(recorded, recovered)

    def _tally(
        self,
        tx: Tx,
        *,
        routed: Mapping[tuple[str, str, str], int] | None = None,
        delivered: Sequence[tuple[int, str]] = (),
        set_aside: Sequence[R.Row] = (),
    ) -> None:
        """Count in the yearly tallies what is now due (``routed``, by (day, category,
        channel)), what was ``delivered`` (notice pk, channel) and what was set aside
        (superseded or cancelled publications: no longer due), rows taken in key order.

        Every writer takes tally rows in (day, category, channel) order, so two
        workers (or a worker and an enqueue) never wait on each other in a circle.
        """
        due: dict[tuple[str, str, str], int] = dict(routed or {})
        done: dict[tuple[str, str, str], int] = {}
        days: dict[int, R.Row] = {}  # a notice's channels often end in the same batch

        def key(notice_pk: int, channel: str) -> tuple[str, str, str] | None:
            if notice_pk not in days:
                (days[notice_pk],) = tx.rows("notice_day", {"pk": notice_pk})
            notice = days[notice_pk]
            if notice["kind"] != "notice":
                return None  # an operator alert: not in the yearly figures
            return (notice["publish_day"], notice["category"], channel)

        for notice_pk, channel in delivered:
            if (k := key(notice_pk, channel)) is not None:
                done[k] = done.get(k, 0) + 1
        for row in set_aside:
            if row["purpose"] != Purpose.publish:
                continue  # the tallies count publications
            if (k := key(int(row["notice_pk"]), row["channel"])) is not None:
                due[k] = due.get(k, 0) - 1
        for day, category, channel in sorted(due.keys() | done.keys()):
            params = {"day": day, "category": category, "channel": channel}
            change = due.get((day, category, channel), 0)
            if change > 0:
                tx.many("tally_routed", [params] * change)
            elif change < 0:
                tx.run("tally_set_aside", {**params, "n": -change})
            if n := done.get((day, category, channel), 0):
                tx.run("tally_delivered", {**params, "n": n})

    def circuit_failure(
        self, channel: str, gate: Gate, now: float, worker: str
    ) -> tuple[CircuitRow, bool]:
        with self._write() as tx:
            self._lock_channel(tx, channel)
            found = tx.rows("circuit_of_channel", {"channel": channel})
            old = R.circuit_row(found[0]) if found else None
            new, turned = after_failure(old, channel, gate, now, worker)
            tx.run("set_circuit", R.circuit_params(new))
        return new, turned

    def release_probe(self, channel: str, now: float) -> None:
        with self._write() as tx:
            tx.run("release_probe", {"channel": channel, "now": now})

    def book_start(self, channel: str, interval: float, now: float) -> float:
        with self._write() as tx:
            (row,) = tx.rows("book_start", {"channel": channel, "interval": interval, "now": now})
        return float(row["start_at"])

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
        dry_run: bool = False,
        by: str | None = None,
        error_class: str | None = None,
    ) -> int:
        if not states:
            return 0
        params: dict[str, Any] = {
            "now": now,
            "states": self._states_param(states),
            "notice_id": notice_id,
            "version": notice_version,
            "channel": channel,
            "delivery_id": delivery_id,
            "since": since,
            "until": until,
            "error_prefix": f"{_like_escape(error_class)}: %" if error_class else None,
        }
        conditions = ["filter_states", "filter_replay_current"]
        for name, key in (
            ("filter_replay_notice", "notice_id"),
            ("filter_replay_channel", "channel"),
            ("filter_replay_delivery", "delivery_id"),
            ("filter_replay_since", "since"),
            ("filter_replay_until", "until"),
            ("filter_replay_error_class", "error_prefix"),
        ):
            if params[key] is not None:
                conditions.append(name)
        if notice_version is not None:
            conditions.append("filter_replay_version")
        where = self._where(conditions)
        if dry_run:
            with self._reading() as tx:
                (row,) = tx.rows("replay_count", params, where=where)
            return int(row["n"])
        with self._write() as tx:
            found = tx.rows("replay", params, where=where)
            events = [E.delivery_replayed(r, now) for r in found]
            if by is not None and found:
                chosen = {
                    k: v for k, v in params.items() if v is not None and k not in ("now", "states")
                }
                chosen["states"] = json.dumps([s.value for s in states])
                subject = json.dumps(
                    {**chosen, "count": len(found)}, ensure_ascii=False, sort_keys=True
                )
                events.append(self._operation(tx, now, by, "replay", subject))
            chaining.append(tx, events)
            if found:
                self._notify(tx)
        return len(found)

    def append_to_chain(self, events: Sequence[Event]) -> Head | None:
        if not events:
            return None
        with self._write() as tx:
            return chaining.append(tx, events)

    def expire_leases(self, owner: str, now: float) -> int:
        with self._write() as tx:
            n = tx.run("expire_leases", {"owner": owner, "now": now})
            if n:
                self._notify(tx)
        return n

    # --- tokens and operations ----------------------------------------------------

    def add_token(self, token: TokenRecord) -> None:
        with self._write() as tx:
            if tx.rows("live_token_named", {"name": token.name}):
                raise StoreError(f"a token called {token.name!r} exists; revoke it first")
            (created,) = tx.rows("insert_token", R.token_params(token))
            ref = chaining.next_ref(tx, "token")
            chaining.append(tx, [E.token_changed(created, ref, token.created_at)])

    def token(self, token_id: str) -> TokenRecord | None:
        with self._reading() as tx:
            found = tx.rows("token", {"id": token_id})
        return R.token_record(found[0]) if found else None

    def tokens(self) -> list[TokenRecord]:
        with self._reading() as tx:
            return [R.token_record(r) for r in tx.rows("tokens")]

    def revoke_token(self, name: str, now: float) -> int:
        with self._write() as tx:
            revoked = tx.rows("revoke_token", {"name": name, "now": now})
            ref = chaining.next_ref(tx, "token")
            chaining.append(tx, [E.token_changed(r, ref + n, now) for n, r in enumerate(revoked)])
        return len(revoked)

    def record_operation(self, at: float, actor: str, action: str, subject: str) -> None:
        with self._write() as tx:
            chaining.append(tx, [self._operation(tx, at, actor, action, subject)])

    def _operation(self, tx: Tx, at: float, actor: str, action: str, subject: str) -> Event:
        """Record an operation in ``tx``; the link that chains it, for the caller to append."""
        params = {"at": at, "actor": actor, "action": action, "subject": subject}
        (row,) = tx.rows("insert_operation", params)
        return E.operation_recorded(row, at)

    def operations(self, limit: int = 100) -> list[OperationRow]:
        with self._reading() as tx:
            return [R.operation_row(r) for r in tx.rows("operations", {"limit": int(limit)})]

    def set_circuit(self, row: CircuitRow) -> None:
        with self._write() as tx:
            tx.run("set_circuit", R.circuit_params(row))

    # --- whole tables, for copying a ledger -------------------------------------

    placeholder = "?"

    def raw_rows(self, query: str) -> list[R.Row]:
        """Rows of a query written here, not named (a whole table, in key order)."""
        with self._reading() as tx:
            return tx.raw(query)

    def raw_insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join(self.placeholder for _ in columns)
        with self._write() as tx:
            tx.raw_many(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def raw_execute(self, query: str) -> None:
        with self._write() as tx:
            tx.raw(query)

    def after_copy(self) -> None:
        """Rows came in with their ids: what the backend must do before new ones are added."""

    # --- reads ---------------------------------------------------------------

    def notice(self, notice_id: str, version: int) -> NoticeRecord | None:
        with self._reading() as tx:
            found = tx.rows("notice", {"id": notice_id, "version": version})
            if not found:
                return None
            warnings = tx.rows("notice_warnings", {"id": notice_id, "version": version})
        return replace(
            R.notice_record(found[0]),
            warnings=tuple((w["rule"], w["message"]) for w in warnings),
        )

    def lease_owners(self) -> list[str]:
        with self._reading() as tx:
            return [r["lease_owner"] for r in tx.rows("lease_owners")]

    def earlier_delivery(
        self, notice_id: str, version: int, channel: str, *, including: bool = False
    ) -> EarlierDelivery | None:
        below = version + 1 if including else version
        with self._reading() as tx:
            found = tx.rows(
                "earlier_delivery", {"notice_id": notice_id, "below": below, "channel": channel}
            )
        if not found:
            return None
        r = found[0]
        return EarlierDelivery(
            r["version"], DeliveryState(r["state"]), r["remote_id"], r["remote_url"]
        )

    def deliveries(
        self,
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        state: DeliveryState | None = None,
        limit: int | None = None,
    ) -> list[DeliveryRow]:
        conditions = [
            name
            for name, value in (
                ("filter_notice", notice_id),
                ("filter_channel", channel),
                ("filter_state", state),
            )
            if value is not None
        ]
        params = {
            "notice_id": notice_id,
            "channel": channel,
            "state": state.value if state is not None else None,
            "limit": self.no_limit if limit is None else int(limit),
        }
        with self._reading() as tx:
            found = tx.rows("deliveries", params, where=self._where(conditions))
        return [R.delivery_row(r) for r in found]

    def attempts(self, filter: AttemptFilter) -> Iterator[AttemptRow]:
        conditions = [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_channel", filter.channel),
                ("filter_outcome", filter.outcome),
                ("filter_since", filter.since),
                ("filter_notice_version", filter.notice_version),
                ("filter_error_class", filter.error_class),
                ("filter_until", filter.until),
            )
            if value is not None
        ]
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "channel": filter.channel,
            "outcome": filter.outcome.value if filter.outcome is not None else None,
            "since": filter.since,
            "notice_version": filter.notice_version,
            "error_class": filter.error_class,
            "until": filter.until,
            "cursor": None,
        }
        order = "DESC" if filter.newest_first else "ASC"
        keyset = "filter_before" if filter.newest_first else "filter_after"
        if filter.newest_first and filter.before_id is not None:
            conditions.append(keyset)  # continuing a page a reader was given
            params["cursor"] = filter.before_id
        where = self._where(conditions)
        remaining = filter.limit
        # Keyset pages: a long export never holds a connection or the whole log in memory.
        while remaining is None or remaining > 0:
            page = PAGE if remaining is None else min(PAGE, remaining)
            with self._reading() as tx:
                found = tx.rows("attempts", {**params, "limit": page}, where=where, order=order)
            for r in found:
                yield R.attempt_row(r)
            if len(found) < page:
                return
            params["cursor"] = found[-1]["id"]
            where = self._where([*conditions, keyset] if keyset not in conditions else conditions)
            if remaining is not None:
                remaining -= len(found)

    def counts(self) -> dict[tuple[str, DeliveryState], int]:
        with self._reading() as tx:
            found = tx.rows("counts")
        return {(r["channel"], DeliveryState(r["state"])): int(r["n"]) for r in found}

    def year_counts(self, year: int) -> YearCounts:
        with self._reading() as tx:
            found = tx.rows(
                "year_counts",
                {"first_day": f"{year:04d}-01-01", "next_year": f"{year + 1:04d}-01-01"},
            )
        return R.year_counts(found)

    def next_due(self, now: float | None = None) -> float | None:
        with self._reading() as tx:
            found = tx.rows("next_due") if now is None else tx.rows("next_due_work", {"now": now})
        return float(found[0]["next_attempt_at"]) if found else None

    def circuits(self) -> dict[str, CircuitRow]:
        with self._reading() as tx:
            found = tx.rows("circuits")
        return {r["channel"]: R.circuit_row(r) for r in found}

    # --- the chain -----------------------------------------------------------

    def chain_head(self) -> Head:
        with self._reading() as tx:
            return chaining.head(tx)

    def chain_links(self, after: int, limit: int) -> list[Link]:
        with self._reading() as tx:
            return chaining.links(tx, after, limit)

    def chain_links_of(self, kind: str, after: int, limit: int) -> list[Link]:
        with self._reading() as tx:
            return chaining.links_of(tx, kind, after, limit)

    def chain_last_at(self, kind: str) -> dict[int, float]:
        with self._reading() as tx:
            found = tx.rows("chain_last_at", {"kind": kind})
        return {int(r["ref"]): float(r["at"]) for r in found}

    def last_checks(self, since: float) -> dict[int, float]:
        with self._reading() as tx:
            found = tx.rows("last_checks", {"since": since})
        return {int(r["ref"]): float(r["at"]) for r in found}

    def chain_last_states(self, after: int, limit: int) -> list[Link]:
        with self._reading() as tx:
            return chaining.last_states(tx, after, limit)

    def ledger_rows(self, table: str, after: int, limit: int) -> list[R.Row]:
        with self._reading() as tx:
            return chaining.ledger_rows(tx, table, after, limit)

    def ledger_state(self, table: str) -> list[R.Row]:
        with self._reading() as tx:
            return chaining.ledger_state(tx, table)

    def chain_hash_at(self, seq: int) -> str | None:
        with self._reading() as tx:
            return chaining.hash_at(tx, seq)

    def archived_attempts(self, after: int, limit: int) -> list[tuple[int, int]]:
        with self._reading() as tx:
            return chaining.archived_attempts(tx, after, limit)

    def archivable_attempts(self, before: float, after: int, limit: int) -> list[R.Row]:
        with self._reading() as tx:
            return chaining.archivable(tx, before, after, limit)

    def archive_attempts(self, ids: Sequence[int], body: Mapping[str, Any], at: float) -> Head:
        with self._write() as tx:
            return chaining.archive(tx, ids, body, at)

    # --- read models ----------------------------------------------------------

    def notice_page(
        self, filter: NoticeFilter, before_pk: int | None, limit: int
    ) -> list[NoticeRow]:
        region = filter.region
        prefix = region is not None and region.endswith("*")
        text = filter.text or None
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "notice_version": filter.notice_version,
            "category": filter.category,
            "notice_type": filter.notice_type,
            "region": region,
            "region_prefix": _like_escape(region[:-1]) + "%" if region and prefix else None,
            "channel": filter.channel,
            "since": filter.since,
            "until": filter.until,
            "text": f"%{_like_escape(text)}%" if text else None,
            "cursor": before_pk,
            "limit": int(limit),
        }
        conditions = ["filter_notices_only"] + [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_notice_version", filter.notice_version),
                ("filter_category", filter.category),
                ("filter_notice_type", filter.notice_type),
                ("filter_region", region if not prefix else None),
                ("filter_region_prefix", params["region_prefix"]),
                ("filter_routed_to", filter.channel),
                ("filter_accepted_since", filter.since),
                ("filter_accepted_until", filter.until),
                ("filter_text", text),
                ("filter_notice_before", before_pk),
            )
            if value is not None
        ]
        having = ""
        if filter.state in (NoticeState.awaiting_approval, NoticeState.rejected):
            conditions.append(f"filter_{filter.state.value}")  # decided by its approvals
        elif filter.state is not None:
            having = self._fragment(f"having_{filter.state.value}")
        where = self._where(conditions)
        with self._reading() as tx:
            if text is None or not self._text_indexed(text):
                found = tx.rows("notice_page", params, where=where, having=having)
            else:
                found = self._text_page(tx, text, params, where, having)
        return [R.notice_row(r) for r in found]

    def _text_indexed(self, text: str) -> bool:
        """Whether notices containing ``text`` are found from a text index (``_text_page``)."""
        return False

    def _text_page(
        self, tx: Tx, text: str, params: dict[str, Any], where: str, having: str
    ) -> list[R.Row]:
        """A page of notices containing ``text``, the candidates named by a text index."""
        raise NotImplementedError

    def approval_trails(self, notice_id: str) -> dict[int, Trail]:
        with self._reading() as tx:
            found = tx.rows("approval_trails", {"id": notice_id})
        steps: dict[int, tuple[str, ...]] = {}
        decided: dict[int, list[Approval]] = {}
        for r in found:
            version = int(r["version"])
            steps[version] = tuple(json.loads(r["steps"]))
            decided.setdefault(version, [])
            if r["id"] is not None:
                decided[version].append(R.approval(r))
        return {v: Trail(steps[v], tuple(decided[v])) for v in steps}

    def awaiting_approvals(self, limit: int) -> list[AwaitingApproval]:
        with self._reading() as tx:
            found = tx.rows("awaiting_approvals", {"limit": int(limit)})
        return [
            AwaitingApproval(
                notice_id=r["id"],
                version=int(r["version"]),
                title=r["title"],
                digest=r["digest"],
                steps=tuple(json.loads(r["steps"])),
                position=int(r["decided"]),
                since=float(r["last_at"] if r["last_at"] is not None else r["accepted_at"]),
            )
            for r in found
        ]

    def approval_figures(self, since: float, until: float) -> ApprovalFigures:
        with self._reading() as tx:
            (recorded,) = tx.rows("has_approval_requests")
            found = tx.rows("approval_figures", {"since": since, "until": until})
        return ApprovalFigures(
            bool(recorded["found"]),
            [
                (
                    float(r["approved_at"]),
                    None if r["first_delivered_at"] is None else float(r["first_delivered_at"]),
                )
                for r in found
            ],
        )

    def notice_versions(self, notice_id: str) -> list[NoticeRecord]:
        with self._reading() as tx:
            return [R.notice_record(r) for r in tx.rows("notice_versions", {"id": notice_id})]

    def delivery_page(
        self, filter: DeliveryFilter, before_id: int | None, limit: int
    ) -> list[DeliveryRow]:
        params: dict[str, Any] = {
            "notice_id": filter.notice_id,
            "notice_version": filter.notice_version,
            "channel": filter.channel,
            "state": filter.state.value if filter.state is not None else None,
            "error_prefix": (
                f"{_like_escape(filter.error_class)}: %" if filter.error_class else None
            ),
            "since": filter.since,
            "until": filter.until,
            "cursor": before_id,
            "limit": int(limit),
        }
        conditions = [
            name
            for name, value in (
                ("filter_notice", filter.notice_id),
                ("filter_notice_version", filter.notice_version),
                ("filter_channel", filter.channel),
                ("filter_state", filter.state),
                ("filter_last_error_class", params["error_prefix"]),
                ("filter_updated_since", filter.since),
                ("filter_updated_until", filter.until),
                ("filter_delivery_before", before_id),
            )
            if value is not None
        ]
        with self._reading() as tx:
            found = tx.rows("delivery_page", params, where=self._where(conditions))
        return [R.delivery_row(r) for r in found]

    def backlog(self, now: float) -> dict[str, Backlog]:
        with self._reading() as tx:
            found = tx.rows("backlog", {"now": now})
        return {r["channel"]: Backlog(int(r["pending"]), r["oldest_due_at"]) for r in found}

    def attempt_outcomes(self, since: float) -> dict[tuple[str, Outcome], int]:
        with self._reading() as tx:
            found = tx.rows("attempt_outcomes", {"minute": int(since // 60)})
        return {(r["channel"], Outcome(r["outcome"])): int(r["n"]) for r in found}

    def last_failures(self) -> dict[str, AttemptRow]:
        with self._reading() as tx:
            return {r["channel"]: R.attempt_row(r) for r in tx.rows("last_failures")}

    def set_paused(self, channel: str, paused: bool, now: float, by: str | None = None) -> bool:
        with self._write() as tx:
            changed = tx.rows(
                "pause" if paused else "resume", {"channel": channel, "now": now, "by": by}
            )
            if changed:
                ref = chaining.next_ref(tx, "pause")
                row = changed[0] if paused else None
                chaining.append(tx, [E.pause_changed(channel, row, ref, now)])
            if changed and not paused:
                self._notify(tx)
        return bool(changed)

    def failure_groups(self) -> list[FailureGroupRow]:
        with self._reading() as tx:
            found = tx.rows("failure_groups")
        return [
            FailureGroupRow(
                r["channel"],
                DeliveryState(r["state"]),
                r["error_class"],
                int(r["deliveries"]),
                r["latest_at"],
                r["latest_error"],
            )
            for r in found
        ]

    def accepted_since(self, since: float) -> int:
        with self._reading() as tx:
            (row,) = tx.rows("accepted_since", {"since": since})
        return int(row["n"])

    def paused(self) -> dict[str, PauseRow]:
        with self._reading() as tx:
            return {r["channel"]: R.pause_row(r) for r in tx.rows("paused")}


def _day(notice: NoticeRecord) -> str:
    """The day a notice is published on, in Beijing: its yearly tallies' key."""
    return datetime.fromtimestamp(notice.publish_at, LOCAL_TZ).date().isoformat()


@dataclass(frozen=True)
class _Planned:
    """The deliveries a version got: its channels (those of earlier versions too), the events."""

    channels: list[str]
    events: list[Event]


def _valid_until(content: str) -> float | None:
    """The stored notice's valid_until (canonical JSON), as UTC seconds."""
    value = json.loads(content).get("valid_until")
    return datetime.fromisoformat(value).timestamp() if value else None


def _like_escape(text: str) -> str:
    """``text`` matched literally inside a LIKE pattern (ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["PAGE", "Outcome", "SqlStore", "Tx"]
