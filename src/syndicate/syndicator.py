"""The Python API for upstream systems: ``Syndicator.from_config(path).enqueue(notice)``."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from . import alerts
from . import readmodels as rm
from .adapter import Adapter
from .approval import Decision, Trail
from .attachments import AttachmentFiles
from .audit.anchor_channel import ChannelAnchor, send_anchor
from .audit.archive import Archived, check_archive
from .audit.archive import archive as archive_attempts
from .audit.chain import Finding, Head
from .audit.consistency import NoticeAudit, audit_notice
from .audit.disclosure import Disclosure, disclosure
from .audit.fetchback import CheckListener, FetchCheck, fetch_back
from .audit.verify import Anchored, Verification, verify, verify_anchored
from .config import Channel, Config, load_config
from .dispatcher import AttemptEvent, Dispatcher, Scheduled
from .errors import (
    ApprovalRefused,
    ConfigError,
    NoticeError,
    Problem,
    QueryError,
    TransientDeliveryError,
)
from .groupcommit import GroupCommit
from .masking import Masker
from .notice import Notice, digest_of
from .readmodels.channels import channel_health
from .readmodels.failures import channel_switches, failures
from .readmodels.ledger import (
    attempt_list,
    delivery_list,
    notice_detail,
    notice_list,
)
from .readmodels.matrix import matrix_page
from .readmodels.overview import overview
from .readmodels.preview import preview
from .readmodels.status import status_matrix
from .readmodels.yearly import year_report
from .registry import AdapterRegistry
from .routing import approval_steps, check_channels, route
from .rules import check as check_rules
from .sanitize import sanitize_html, sanitized_notice
from .store import open_store
from .store.base import (
    AcceptResult,
    AttemptFilter,
    Decided,
    DeliveryFilter,
    DeliveryState,
    NoticeFilter,
    NoticeRecord,
    Purpose,
    Store,
    Withdrawn,
)
from .tokens import Tokens

Listener = Callable[[AttemptEvent], None]


def build_adapter(channel: Channel) -> Adapter[Any]:
    """A channel's adapter, constructed from its options and settings."""
    return channel.kind(
        channel.name,
        channel.options,
        attachments=AttachmentFiles(channel.attachments_root, channel.secret_files),
        concurrency=channel.settings.concurrency,
    )


def _checks_notices(kind: type[Adapter[Any]]) -> bool:
    return kind.check is not Adapter.check


@dataclass(frozen=True)
class Accepted:
    """What ``enqueue`` did with a notice."""

    notice_id: str
    version: int
    digest: str
    channels: list[str]
    created: bool  # False: the same id, version and content were accepted before
    warnings: list[str] = field(default_factory=list)  # rules in warn mode the notice breaks
    # The approval steps it awaits before any channel receives it (empty: none needed).
    approval_steps: tuple[str, ...] = ()

    @property
    def awaiting_approval(self) -> bool:
        return bool(self.approval_steps)

    @property
    def status(self) -> str:
        return "accepted" if self.created else "already accepted"


_Failed = TypeVar("_Failed", bound=Exception)  # why a notice could not be prepared


@dataclass(frozen=True)
class _Prepared:
    """A notice ready for the ledger, and what its answer will say."""

    record: NoticeRecord
    channels: list[str]
    warnings: list[str]
    steps: tuple[str, ...]

    def accepted(self, result: AcceptResult) -> Accepted:
        r = self.record
        return Accepted(
            r.id,
            r.version,
            r.digest,
            result.channels,
            result.created,
            self.warnings if result.created else [],
            self.steps if result.awaiting_approval else (),
        )


class Syndicator:
    """One configuration, one ledger: enqueue notices, run the worker, read the ledger."""

    def __init__(
        self,
        config: Config,
        registry: AdapterRegistry,
        store: Store | None = None,
        *,
        wait_for_ledger: float = 0.0,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = (
            store
            if store is not None
            else open_store(
                config.store_url(),
                notify=config.store.notify,
                wait=wait_for_ledger,
                progress=progress,
            )
        )
        self._built: dict[str, Adapter[Any]] = {}
        self._running: list[tuple[asyncio.AbstractEventLoop, Dispatcher]] = []
        self._check_listeners: list[CheckListener] = []
        self._masker: Masker | None = None
        if config.alerts is not None:
            self.on_fetch_back(self._alert_on_check)
        self.tokens = Tokens(self.store)
        # A group is checked, routed and stored in the one thread that writes it: a thread
        # hop per group, not per notice (each hop costs the event loop a wake-up and the GIL).
        self._group = GroupCommit[tuple[Notice, str | None], Accepted | Exception](
            self._enqueue_group, limit=config.api.max_batch
        )

    def _alert_on_check(self, check: FetchCheck) -> None:
        """A publication found changed or gone is an incident: told through the alert channels."""
        alert = alerts.publication_checked(check)
        if alert is not None and alerts.Alerter(self.config, self.store).send(alert):
            self._wake_workers()

    def on_fetch_back(self, listener: CheckListener) -> None:
        """Tell ``listener`` of every fetch-back check once it is recorded in the ledger.

        Both ``fetch_back`` and the worker's scheduled checks call it, with each
        ``FetchCheck``; ``check.result.alert`` is true for a changed or vanished
        publication, which an operator must look at. A listener that raises is
        logged; the check stays recorded.
        """
        self._check_listeners.append(listener)

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        registry: AdapterRegistry | None = None,
        env: dict[str, str] | None = None,
        read_only: bool = False,
        wait_for_ledger: float = 0.0,
        progress: Callable[[str], None] | None = None,
    ) -> Syndicator:
        """Load ``channels.yaml`` at ``path`` and open the ledger it names.

        ``read_only``: for reading the ledger; channels whose secrets are not in
        the environment are listed but cannot send (see ``load_config``).
        ``wait_for_ledger``: seconds to wait for a ledger server that does not
        answer yet, each wait told to ``progress`` (see ``open_store``).
        """
        registry = registry or AdapterRegistry.from_entry_points()
        config = load_config(Path(path), registry, env=env, read_only=read_only)
        return cls(config, registry, wait_for_ledger=wait_for_ledger, progress=progress)

    def adapter(self, channel: str) -> Adapter[Any]:
        """The adapter of a configured channel, built the first time it is needed.

        Reading the ledger builds none: a process that only answers queries
        never opens a channel's files, keys or connections.
        """
        built = self._built.get(channel)
        if built is None:
            if channel not in self.config.channels:
                raise QueryError([Problem("channel", self._unknown(channel))])
            built = self._built[channel] = build_adapter(self.config.channels[channel])
        return built

    def masker(self) -> Masker:
        """Every configured channel's secrets: masked in whatever a face shows of what peers said.

        A channel not built yet is constructed for its secrets only, and not kept:
        nothing is opened for it.
        """
        if self._masker is None:
            self._masker = Masker(
                secret
                for name, channel in self.config.channels.items()
                if channel.sendable
                for secret in (self._built.get(name) or build_adapter(channel)).secrets()
            )
        return self._masker

    @property
    def adapters(self) -> dict[str, Adapter[Any]]:
        """The adapters of every enabled channel (built now if need be): what a worker runs."""
        return {
            name: self.adapter(name)
            for name, ch in self.config.channels.items()
            if ch.settings.enabled
        }

    def _unknown(self, channel: str) -> str:
        return f"unknown channel {channel!r} (known: {', '.join(self.config.channels)})"

    def enqueue(
        self, notice: Notice | dict[str, Any] | str | bytes, *, by: str | None = None
    ) -> Accepted:
        """Validate, route and store ``notice`` with one delivery per routed channel.

        When this returns, the notice and its deliveries are committed
        together. Raises NoticeError (bad notice, conflict, no channel).
        ``by`` names who enqueued it (an API token) in the ledger.
        """
        prepared = self._prepare(notice)
        record, channels = prepared.record, prepared.channels
        result = self.store.accept(
            record, channels, record.accepted_at, by=by, expiring=self._expiring()
        )
        self._wake_workers()
        return prepared.accepted(result)

    def enqueue_many(
        self,
        notices: Sequence[Notice],
        *,
        by: str | None = None,
        authors: Sequence[str | None] | None = None,
    ) -> list[Accepted | NoticeError]:
        """``enqueue`` for each notice, stored in one transaction (one commit for the batch).

        Each notice gets its own result in its place: accepted, or the NoticeError
        (refused, conflict) that ``enqueue`` would have raised for it. ``authors``
        names who enqueued each notice, where they differ (see ``enqueue_async``).
        """
        each = list(authors) if authors is not None else [by] * len(notices)
        prepared: list[_Prepared | NoticeError] = []
        for notice in notices:
            try:
                prepared.append(self._prepare(notice))
            except NoticeError as exc:
                prepared.append(exc)
        return self._store_prepared(list(zip(prepared, each, strict=True)))

    def _enqueue_group(
        self, items: Sequence[tuple[Notice, str | None]]
    ) -> list[Accepted | Exception]:
        """A group of ``enqueue_async``: each notice checked, the valid ones stored together.

        A notice refused, or whose checks fail in any other way, gets its own error;
        the rest of its group is stored all the same.
        """
        prepared: list[tuple[_Prepared | Exception, str | None]] = []
        for notice, by in items:
            try:
                prepared.append((self._prepare(notice), by))
            except Exception as exc:  # this notice's alone
                prepared.append((exc, by))
        return self._store_prepared(prepared)

    def _store_prepared(
        self, items: Sequence[tuple[_Prepared | _Failed, str | None]]
    ) -> list[Accepted | _Failed | NoticeError]:
        """Prepared notices (or why each could not be) stored in one transaction; a result
        for each, in its place."""
        results: list[Accepted | _Failed | NoticeError | None] = [
            p if isinstance(p, Exception) else None for p, _ in items
        ]
        ready = [(i, p, by) for i, (p, by) in enumerate(items) if not isinstance(p, Exception)]
        if ready:
            stored = self.store.accept_many(
                [(p.record, p.channels) for _, p, _ in ready],
                time.time(),
                expiring=self._expiring(),
                authors=[by for _, _, by in ready],
            )
            for (i, p, _), result in zip(ready, stored, strict=True):
                results[i] = result if isinstance(result, NoticeError) else p.accepted(result)
            self._wake_workers()
        return [r for r in results if r is not None]

    async def enqueue_async(self, notice: Notice, *, by: str | None = None) -> Accepted:
        """``enqueue`` from an event loop, committed together with its concurrent neighbours.

        Notices that arrive while the ledger writes another group wait, and go
        together: checked and routed in the thread that writes them, then stored in
        one transaction (one durable commit for all). Each still gets its own answer
        or NoticeError, exactly as ``enqueue`` would give it, once its group committed.
        """
        done = await self._group.submit((notice, by))
        if isinstance(done, Exception):
            raise done
        return done

    def _prepare(self, notice: Notice | dict[str, Any] | str | bytes) -> _Prepared:
        """A notice validated, routed and checked, as the ledger will store it."""
        if not isinstance(notice, Notice):
            notice = Notice.parse(notice)
        if notice.id.startswith(alerts.PREFIX):
            raise NoticeError([Problem("id", f"{alerts.PREFIX}… is kept for operator alerts")])
        channels = route(notice, self.config)
        # Only kinds that look at a notice before taking it need an instance here.
        checkers = {
            name: self.adapter(name)
            for name in channels
            if _checks_notices(self.config.channels[name].kind)
        }
        check_channels(notice, list(checkers), checkers)
        warnings = check_rules(notice, channels, self.config.rules, self.config.calendar)
        steps = approval_steps(notice, self.config)
        content = notice.canonical_json()
        record = NoticeRecord(
            id=notice.id,
            version=notice.version,
            category=notice.category.value,
            notice_type=notice.notice_type.value,
            region_code=notice.region_code,
            title=notice.title,
            digest=digest_of(content),
            content=content,
            accepted_at=time.time(),
            publish_at=notice.publish_at.timestamp(),
            body_sanitized=sanitize_html(notice.body_html).changed,
            warnings=tuple(warnings),
            approval_steps=steps,
            valid_until=notice.valid_until.timestamp() if notice.valid_until else None,
        )
        return _Prepared(record, channels, [message for _, message in warnings], steps)

    def decide(
        self,
        notice_id: str,
        version: int,
        step: str,
        decision: Decision,
        *,
        by: str,
        digest: str,
        comment: str | None = None,
        via: str | None = None,
    ) -> Decided:
        """Record ``by``'s decision on step ``step`` of a notice version's approval.

        ``digest`` is the canonical digest of the content ``by`` saw: a decision counts
        only for that content. The last step approved creates the version's deliveries
        (the channels it was routed to at enqueue); a rejection ends it, never delivered.
        ApprovalRefused, nothing recorded, for anything else. ``via``: the API token.
        """
        problems = []
        if not by.strip():
            problems.append(Problem("by", "name who decides"))
        if decision is Decision.rejected and not (comment or "").strip():
            problems.append(Problem("comment", "a rejection needs its reason"))
        if problems:
            raise ApprovalRefused(problems, status=422)
        decided = self.store.decide(
            notice_id,
            version,
            step,
            decision,
            approver=by.strip(),
            digest=digest.strip().lower(),
            now=time.time(),
            comment=comment.strip() if comment and comment.strip() else None,
            via=via,
            expiring=self._expiring(),
        )
        if decided.channels:
            self._wake_workers()
        return decided

    def approve(
        self,
        notice_id: str,
        version: int,
        step: str,
        *,
        by: str,
        digest: str,
        comment: str | None = None,
        via: str | None = None,
    ) -> Decided:
        """Approve one step (see ``decide``)."""
        return self.decide(
            notice_id,
            version,
            step,
            Decision.approved,
            by=by,
            digest=digest,
            comment=comment,
            via=via,
        )

    def reject(
        self,
        notice_id: str,
        version: int,
        step: str,
        *,
        by: str,
        digest: str,
        reason: str,
        via: str | None = None,
    ) -> Decided:
        """Reject the version at one step, with the reason: never delivered (see ``decide``)."""
        return self.decide(
            notice_id,
            version,
            step,
            Decision.rejected,
            by=by,
            digest=digest,
            comment=reason,
            via=via,
        )

    def approval_trails(self, notice_id: str) -> dict[int, Trail]:
        """Each version's approval trail (versions that need none are absent)."""
        return self.store.approval_trails(notice_id)

    def _expiring(self) -> set[str]:
        """The channels whose adapter takes a notice down (or marks it) when it expires."""
        return {
            name
            for name, ch in self.config.channels.items()
            if Purpose.expiry in ch.kind.purposes_for(ch.options)
        }

    def withdraw(self, notice_id: str, reason: str, *, by: str | None = None) -> Withdrawn:
        """Withdraw every version of a notice: pending deliveries are cancelled, and every
        channel that carries it is sent a withdrawal (a retraction, a removal, a notice).

        NoticeError, changing nothing, for an unknown notice, one withdrawn already,
        or an empty reason. ``by`` names who withdrew it, in the ledger.
        """
        reason = " ".join(reason.split())
        if not reason:
            raise NoticeError([Problem("reason", "a withdrawal needs a reason")])
        if len(reason) > 500:
            raise NoticeError([Problem("reason", "at most 500 characters")])
        result = self.store.withdraw(notice_id, reason, time.time(), by=by)
        self._wake_workers()
        return result

    def load_notice(self, notice_id: str, version: int) -> Notice:
        return Notice.parse(self._stored(notice_id, version).content)

    def _stored(self, notice_id: str, version: int) -> NoticeRecord:
        record = self.store.notice(notice_id, version)
        if record is None:
            raise NoticeError(
                [Problem("", f"no notice {notice_id} version {version} in the ledger")]
            )
        return record

    def verify(self, anchor: Path | None = None) -> Verification | Anchored:
        """Walk the ledger's hash chain and check every row against it.

        With ``anchor``: also check the chain against every head anchored in
        that file, and append this head to it if everything holds.
        """
        if anchor is None:
            return verify(self.store)
        return verify_anchored(self.store, anchor)

    def anchor_to_channel(self, head: Head) -> ChannelAnchor:
        """Send ``head`` (verified by the caller) through the ``audit.anchor`` channel.

        The channel's answer is chained as an ``anchor`` link. ConfigError without
        an ``audit.anchor`` section; a DeliveryError (nothing recorded) when the
        channel does not take it.
        """
        settings = self.config.audit.anchor
        if settings is None:
            raise ConfigError(
                [
                    Problem(
                        "audit.anchor",
                        "--anchor-channel needs an audit: {anchor: {channel: …, "
                        "region_code: …}} section",
                        self.config.source,
                    )
                ]
            )
        if head.seq == 0:
            raise ConfigError(
                [Problem("", "nothing to anchor: the ledger's chain is empty", self.config.source)]
            )
        timeout = self.config.channels[settings.channel].settings.timeout

        async def go() -> ChannelAnchor:
            adapter = self.adapter(settings.channel)
            try:
                return await send_anchor(adapter, settings, head, time.time(), timeout)
            finally:
                await adapter.aclose()

        try:
            sent = asyncio.run(go())
        except TimeoutError:
            raise TransientDeliveryError(
                f"channel {settings.channel} did not take the anchor within {timeout:g}s"
            ) from None
        self.store.append_to_chain([sent.event()])
        return sent

    def archive(self, before: float, path: Path) -> Archived:
        """Move attempts of ended deliveries finished before ``before`` to the archive ``path``."""
        return archive_attempts(self.store, before, path, time.time())

    def check_archive(self, path: Path) -> list[Finding]:
        """Hold an archive file against the chain; ArchiveError if it is altered or foreign."""
        return check_archive(self.store, path)

    def fetch_back(
        self, *, notice_id: str | None = None, channel: str | None = None, due: bool = False
    ) -> list[FetchCheck]:
        """Read back what each channel that can be read published, and record what was found.

        ``due``: only deliveries of channels with a ``fetch_back`` interval, not
        read back within it (what a scheduled run does).
        """

        async def go() -> list[FetchCheck]:
            used: dict[str, Adapter[Any]] = {}

            def adapter_of(name: str) -> Adapter[Any] | None:
                if name not in self.config.channels:
                    return None
                used[name] = self.adapter(name)
                return used[name]

            try:
                return await self._fetch_back(
                    adapter_of, notice_id=notice_id, channel=channel, due=due
                )
            finally:
                for adapter in used.values():
                    await adapter.aclose()

        return asyncio.run(go())

    async def _fetch_back(
        self,
        adapter_of: Callable[[str], Adapter[Any] | None],
        *,
        notice_id: str | None = None,
        channel: str | None = None,
        due: bool = False,
    ) -> list[FetchCheck]:
        configured = self.config.channels

        def every(name: str) -> float | None:
            return configured[name].settings.fetch_back if name in configured else None

        def timeout(name: str) -> float:
            return configured[name].settings.timeout

        def as_sent(notice_id: str, version: int) -> tuple[Notice, str]:
            """The notice as the channels were given it (the body sanitised for them), and
            the digest of the one accepted, which the deliveries carry."""
            record = self._stored(notice_id, version)
            return sanitized_notice(Notice.parse(record.content))[0], record.digest

        return await fetch_back(
            self.store,
            adapter_of,
            as_sent,
            time.time(),
            notice_id=notice_id,
            channel=channel,
            every=every if due else None,
            timeout=timeout,
            listeners=self._check_listeners,
            published=lambda d: not d.notice_id.startswith(alerts.PREFIX),
        )

    def audit(self, notice_id: str, version: int | None = None) -> NoticeAudit:
        """The consistency report of a notice version (default: its newest in the ledger)."""
        if version is None:
            versions = [r.version for r in self.store.notice_versions(notice_id)]
            if not versions:
                raise NoticeError([Problem("", f"no notice {notice_id} in the ledger")])
            version = max(versions)
        record = self.store.notice(notice_id, version)
        if record is None:
            raise NoticeError(
                [Problem("", f"no notice {notice_id} version {version} in the ledger")]
            )
        configured = self.config.channels
        trail = self.store.approval_trails(notice_id).get(version)
        return audit_notice(
            self.store,
            lambda ch: self.adapter(ch) if ch in configured else None,
            record,
            trail,
        )

    def run(
        self,
        *,
        once: bool = False,
        stop: asyncio.Event | None = None,
        listener: Listener | None = None,
    ) -> None:
        """Run the worker until stopped (or, with ``once``, until nothing is due).

        ``listener`` is called with every attempt the worker records.
        """
        asyncio.run(self.run_async(once=once, stop=stop, listener=listener))

    async def run_async(
        self,
        *,
        once: bool = False,
        stop: asyncio.Event | None = None,
        listener: Listener | None = None,
        started: Callable[[str], None] | None = None,
        share: int = 1,
    ) -> None:
        """The worker on the running loop; ``started`` is told the worker's name.

        Unless ``once``, the worker also runs the fetch-back checks that are due on
        channels with a ``fetch_back`` interval, looking every shortest interval.
        """
        intervals = [
            ch.settings.fetch_back
            for ch in self.config.channels.values()
            if ch.settings.enabled and ch.settings.fetch_back is not None
        ]
        adapters = self.adapters

        async def due_checks() -> None:
            await self._fetch_back(adapters.get, due=True)

        dispatcher = Dispatcher(
            self.config,
            self.store,
            adapters,
            listener=listener,
            scheduled=[Scheduled(min(intervals), due_checks)] if intervals else [],
            share=share,
        )
        entry = (asyncio.get_running_loop(), dispatcher)
        self._running.append(entry)
        try:
            if started is not None:
                started(dispatcher.worker)
            await dispatcher.run(once=once, stop=stop)
        finally:
            self._running.remove(entry)

    # --- read models ------------------------------------------------------------

    def notice_ref(self, text: str) -> rm.NoticeRef:
        """``ID`` or ``ID.vN`` as the CLI prints it (an id that itself ends in .vN wins)."""
        return rm.parse_notice_ref(text, lambda whole: bool(self.store.notice_versions(whole)))

    def status_matrix(
        self, *, notice: str | None = None, channel: str | None = None, limit: int = 50
    ) -> rm.StatusMatrix:
        """The latest ``limit`` notice versions × channels, with counts and circuits."""
        ref = self.notice_ref(notice) if notice else None
        return status_matrix(
            self.store, list(self.config.channels), notice=ref, channel=channel, limit=limit
        )

    def notices(
        self,
        filter: NoticeFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> rm.Page[rm.NoticeSummary]:
        """Notice versions, newest first; ``cursor`` is a page's ``next_cursor``."""
        return notice_list(self.store, filter or NoticeFilter(), cursor, limit)

    def notice_detail(self, notice_id: str) -> rm.NoticeDetail | None:
        """Every version of a notice with each delivery and attempt; None if unknown."""
        return notice_detail(self.store, notice_id)

    def deliveries(
        self,
        filter: DeliveryFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> rm.Page[rm.DeliveryEntry]:
        """Deliveries, newest first; ``cursor`` is a page's ``next_cursor``."""
        return delivery_list(self.store, filter or DeliveryFilter(), cursor, limit)

    def attempt_log(
        self,
        filter: AttemptFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> rm.Page[rm.AttemptEntry]:
        """Attempts, newest first; ``cursor`` is a page's ``next_cursor``."""
        return attempt_list(self.store, filter or AttemptFilter(), cursor, limit)

    def attempt_export(self, filter: AttemptFilter | None = None) -> Iterator[rm.AttemptEntry]:
        """Every attempt matching ``filter`` as stored (oldest first unless it says otherwise)."""
        for row in self.store.attempts(filter or AttemptFilter()):
            yield rm.AttemptEntry.from_row(row)

    def channel_health(self, now: float | None = None) -> rm.ChannelHealth:
        """Each channel: enabled, paused, circuit, backlog, success rates, last error."""
        return channel_health(self.store, self.config, time.time() if now is None else now)

    def disclosure(self, year: int) -> Disclosure:
        """The year's figures for the information-disclosure report (CSV, DOCX, JSON)."""
        descriptions = {
            name: ch.settings.description or name for name, ch in self.config.channels.items()
        }
        return disclosure(self.store, self.year_report(year), descriptions, year)

    def year_report(self, year: int) -> rm.YearReport:
        """What the notices published in ``year`` came to, by category and channel."""
        return year_report(self.store, list(self.config.channels), year)

    def preview(self, notice: Notice | str, channel: str) -> rm.Preview:
        """Exactly what ``channel`` would receive for ``notice`` (a Notice, or ID / ID.vN)."""
        if channel not in self.config.channels:
            raise QueryError([Problem("channel", self._unknown(channel))])
        if isinstance(notice, str):
            notice = self.find_notice(notice)
        previous = None
        if notice.version > 1:  # a correction updates what the channel carries
            previous = self.store.earlier_delivery(notice.id, notice.version, channel)
        return preview(self.adapter(channel), notice, previous)

    def find_notice(self, text: str) -> Notice:
        """The stored notice ``ID.vN``, or the latest version of ``ID``."""
        ref = self.notice_ref(text)
        versions = {r.version: r for r in self.store.notice_versions(ref.id)}
        if not versions or (ref.version is not None and ref.version not in versions):
            raise QueryError([Problem("notice", f"no notice {ref} in the ledger")])
        record = versions[ref.version if ref.version is not None else max(versions)]
        return Notice.parse(record.content)

    def matrix(
        self,
        filter: NoticeFilter | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> rm.MatrixPage:
        """A page of notice versions, newest first, each with its delivery per channel."""
        return matrix_page(
            self.store, list(self.config.channels), filter or NoticeFilter(), cursor, limit
        )

    def overview(self, now: float | None = None) -> rm.Overview:
        """Channel health, today's figures (Asia/Shanghai) and the open incidents."""
        return overview(self.store, self.channel_health(now))

    def failures(self) -> rm.Failures:
        """Failed and dead deliveries grouped by channel, state and error class."""
        return failures(self.store)

    def channel_switches(self) -> tuple[rm.ChannelSwitch, ...]:
        """Each configured channel: paused or not, by whom, and its circuit."""
        return channel_switches(self.store, list(self.config.channels))

    # --- operating channels -------------------------------------------------------

    def pause(self, channel: str, *, by: str | None = None) -> bool:
        """Start no new delivery on ``channel`` until resumed; True if it was running."""
        self._known(channel)
        changed = self.store.set_paused(channel, True, time.time(), by)
        self._wake_workers()
        return changed

    def resume(self, channel: str) -> bool:
        """Let ``channel`` take deliveries again; True if it was paused."""
        self._known(channel)
        changed = self.store.set_paused(channel, False, time.time())
        self._wake_workers()
        return changed

    def replay(
        self,
        *,
        notice: str | None = None,
        channel: str | None = None,
        delivery_id: int | None = None,
        states: Sequence[DeliveryState] = (DeliveryState.failed, DeliveryState.dead),
        since: float | None = None,
        until: float | None = None,
        error_class: str | None = None,
        dry_run: bool = False,
        by: str | None = None,
    ) -> int:
        """Put failed or dead deliveries back to pending with a fresh retry budget.

        ``notice`` is ``ID`` (every version) or ``ID.vN``; ``since``/``until``
        bound when the deliveries ended; ``error_class`` narrows to deliveries
        whose last attempt failed so; ``dry_run`` only counts what would be
        replayed; ``by`` names who asked, in the ledger. History is kept.
        Returns how many deliveries were (or would be) replayed.
        """
        ref = self.notice_ref(notice) if notice else None
        if channel is not None:
            self._known(channel)
        if any(s not in (DeliveryState.failed, DeliveryState.dead) for s in states):
            raise QueryError([Problem("state", "only failed or dead deliveries are replayed")])
        count = self.store.replay(
            time.time(),
            notice_id=ref.id if ref else None,
            notice_version=ref.version if ref else None,
            channel=channel,
            delivery_id=delivery_id,
            states=states,
            since=since,
            until=until,
            error_class=error_class or None,
            dry_run=dry_run,
            by=by,
        )
        if count and not dry_run:
            self._wake_workers()
        return count

    def _known(self, channel: str) -> None:
        if channel not in self.config.channels:
            raise QueryError([Problem("channel", self._unknown(channel))])

    def _wake_workers(self) -> None:
        for loop, dispatcher in list(self._running):
            # A worker of this process is woken at once; others notice the ledger changed.
            loop.call_soon_threadsafe(dispatcher.wake)

    def drain(self, *, timeout: float = 60.0) -> bool:
        """Run the worker until every delivery has ended or ``timeout`` passes; True if all ended.

        Unlike ``run(once=True)`` this waits for scheduled retries too.
        """
        return asyncio.run(self.drain_async(timeout=timeout))

    async def drain_async(self, *, timeout: float = 60.0) -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(self.run_async(stop=stop))
        deadline = time.monotonic() + timeout
        done = False
        try:
            while not task.done():
                # Nothing pending or in flight: one look at a small index, whatever the size.
                # Expiries still to come are not work left (they wait for valid_until).
                done = self.store.next_due(time.time()) is None
                if done or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task
        return done

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Syndicator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
