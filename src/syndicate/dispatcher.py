"""The worker: claims due deliveries under a lease and runs their adapters concurrently.

One asyncio loop; blocking adapters run in their own threads. Each channel
has its own concurrency limit, rate limit and retry schedule. Every try is
an attempt row; the next attempt time is persisted, so a restart keeps the
schedule. The worker never dies of a channel: whatever an adapter raises is
recorded against the delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import alerts
from .adapter import Adapter, DeliveryContext, Payload, Receipt
from .config import Config, Incident
from .errors import (
    DeliveryError,
    InDoubtDeliveryError,
    NoticeError,
    PermanentDeliveryError,
    Problem,
    StoreError,
    TransientDeliveryError,
)
from .masking import Masker
from .notice import Notice
from .outcome import CircuitEffect, decide
from .payloads import RenderedPayloads
from .recorder import Recorder, Refill
from .retry import Schedule
from .sanitize import sanitized_notice
from .store.base import (
    AttemptRecord,
    CircuitRow,
    Claim,
    DeliveryState,
    Gate,
    Next,
    NoticeRecord,
    Outcome,
    Purpose,
    Store,
)

log = logging.getLogger("syndicate.worker")

# How stale the worker's view of paused channels may get (a pause in this process is at once).
PAUSE_REFRESH = 1.0


RENDER_INLINE_CHARS = 64_000
"""A body (or a stored notice) longer than this is rendered (parsed) in a thread rather
than on the worker's loop."""


def _parsed(record: NoticeRecord | None) -> Notice | NoticeError:
    """The stored notice parsed, its body sanitised for the channels; or why it cannot be."""
    try:
        if record is None:
            raise NoticeError([])
        notice, _ = sanitized_notice(Notice.parse(record.content))
    except NoticeError as exc:
        return exc
    except Exception as exc:  # a sanitiser's own failure: permanent, and said plainly
        return NoticeError([Problem("body_html", f"cannot be sanitised: {exc}")])
    return notice


@dataclass(frozen=True)
class AttemptEvent:
    """What one attempt came to, for whoever watches the worker."""

    claim: Claim
    outcome: Outcome
    state: DeliveryState
    message: str
    next_at: float | None
    remote_id: str | None = None
    remote_url: str | None = None


@dataclass(frozen=True)
class Scheduled:
    """Work the worker does every ``every`` seconds beside deliveries (due fetch-back checks)."""

    every: float
    run: Callable[[], Awaitable[None]]
    now: bool = True  # also once at the start, before the first interval


class _Lane:
    """One channel as the worker runs it."""

    def __init__(self, name: str, adapter: Adapter[Any], config: Config, share: int = 1) -> None:
        settings = config.channels[name].settings
        self.name = name
        self.adapter = adapter
        # This worker's part of the channel's slots; the ledger's gate bounds all workers'.
        self.concurrency = max(1, -(-settings.concurrency // share))
        self.timeout = settings.timeout
        self.schedule = Schedule(settings.retry)
        # Every worker on the ledger shares these: they are kept in the ledger, not here.
        self.interval = 1.0 / settings.rate_limit if settings.rate_limit else None
        self.last_start = -float("inf")
        breaker = settings.circuit_breaker
        self.gate = Gate(settings.concurrency, breaker.failures, breaker.cool_down)
        self.in_flight = 0

    @property
    def free(self) -> int:
        return self.concurrency - self.in_flight


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _dead_here(owner: str) -> bool:
    """True if ``owner`` (a ``worker_name``) was a process of this host that has ended."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, under another user
        return False
    return False


class Dispatcher:
    """Runs deliveries until stopped."""

    def __init__(
        self,
        config: Config,
        store: Store,
        adapters: Mapping[str, Adapter[Any]],
        *,
        worker: str | None = None,
        listener: Callable[[AttemptEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        scheduled: Sequence[Scheduled] = (),
        share: int = 1,
    ) -> None:
        """``share``: one of that many workers started together (``run --processes``), each
        taking at most its part of a channel's concurrency, so that all of them get work."""
        self.config = config
        self.scheduled = scheduled
        self.store = store
        self.worker = worker or worker_name()
        self.listener = listener
        self.clock = clock
        # Every channel's secrets, masked in whatever any channel says: a peer may echo another's.
        self.mask = Masker(s for a in adapters.values() for s in a.secrets())
        self.lanes = {
            name: _Lane(name, adapters[name], config, share)
            for name, ch in config.channels.items()
            if ch.settings.enabled
        }
        self._wake = asyncio.Event()
        # The ledger's writes (and their fsync) run in one thread of their own, so
        # deliveries in flight keep moving while a commit reaches the disk.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="syndicate-ledger")
        self._gates = {lane.name: lane.gate for lane in self.lanes.values()}
        self._recorder = Recorder(
            store,
            self.worker,
            self._writer,
            recovered=self._recovered,
            refill=self._refill,
            claimed=self._start,
        )
        self._stopping = False
        # Set when a finished attempt leaves a slot to claim (or nothing in flight).
        self._freed = asyncio.Event()
        self._alerter = alerts.Alerter(config, store)
        self._alerting: set[asyncio.Future[None]] = set()
        self._tasks: dict[asyncio.Task[None], Claim] = {}
        # Each notice loaded once, by whichever of its channels' attempts asks first; the
        # others (claimed in the same batch) wait for that load instead of starting their own.
        self._notices: OrderedDict[tuple[str, int], asyncio.Future[Notice | NoticeError]] = (
            OrderedDict()
        )
        self._payloads = RenderedPayloads()
        self._paused: set[str] = set()
        self._paused_read_at = float("-inf")

    def wake(self) -> None:
        """Look for due work now (an enqueue, a pause or a resume in this process calls this)."""
        self._paused_read_at = float("-inf")
        self._wake.set()

    def _paused_channels(self, now: float) -> set[str]:
        if now - self._paused_read_at >= PAUSE_REFRESH:
            with contextlib.suppress(StoreError):  # keep the last view; claiming will say more
                self._paused = set(self.store.paused())
            self._paused_read_at = now
        return self._paused

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set; with ``once``, until nothing is due or in flight."""
        stop = stop or asyncio.Event()
        poll = self.config.worker.poll_interval
        backoff = poll
        recorder = asyncio.create_task(self._recorder.run())
        self._reclaim_dead_leases()
        scheduled = list(self.scheduled)
        if self._alerter.settings is not None:
            await self._catch_up_alerts()
            scheduled.append(Scheduled(alerts.CATCH_UP_EVERY, self._catch_up_alerts, now=False))
        side = [] if once else [asyncio.create_task(self._every(s, stop)) for s in scheduled]
        try:
            while not stop.is_set():
                try:
                    started = await self._claim_all()
                    backoff = poll
                except StoreError as exc:
                    log.error("cannot claim deliveries: %s; retrying in %.1fs", exc, backoff)
                    backoff = min(backoff * 2, 30.0)
                    await self._sleep(stop, backoff)
                    continue
                if once and not started and not self._tasks:
                    break
                if not started:
                    await self._idle(stop, poll)
        finally:
            self._stopping = True  # batches recorded from now on claim nothing
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            await self._shutdown()
            await self._recorder.close()
            await recorder
            if self._alerting:  # recoveries the last batches told of
                await asyncio.wait(set(self._alerting))
            self._writer.shutdown(wait=True)

    async def _every(self, scheduled: Scheduled, stop: asyncio.Event) -> None:
        """Run ``scheduled`` now (unless not ``now``) and then every ``every`` seconds."""
        if not scheduled.now:
            await self._sleep(stop, scheduled.every)
        while not stop.is_set():
            try:
                await scheduled.run()
            except Exception:
                # A failed round (the ledger away, a bug) is tried again next time.
                log.exception("scheduled work failed; trying again in %gs", scheduled.every)
            await self._sleep(stop, scheduled.every)

    def _reclaim_dead_leases(self) -> None:
        """Deliveries a dead worker process of this host held are due at once, in doubt.

        (A worker elsewhere cannot tell a dead owner from a slow one: it waits out the lease.)
        """
        try:
            for owner in self.store.lease_owners():
                if _dead_here(owner):
                    freed = self.store.expire_leases(owner, self.clock())
                    log.warning(
                        "worker %s died holding %d deliveries; they are due again now",
                        owner,
                        freed,
                    )
        except StoreError as exc:
            log.error("cannot look for a dead worker's deliveries: %s", exc)

    async def _idle(self, stop: asyncio.Event, poll: float) -> None:
        """Wait for a finished attempt, a wake-up, a due time or another process's write.

        Another process's enqueue is noticed by a cheap check of the ledger
        every ``poll`` seconds; the next due retry is waited for exactly.
        """
        due = None
        with contextlib.suppress(StoreError):
            due = self.store.next_due()
        # Work due now that could not be claimed (lanes full, circuit open) waits a poll.
        wait = 60.0 if due is None else max(poll, due - self.clock())
        deadline = time.monotonic() + wait
        waiters: set[asyncio.Future[Any]] = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._freed.wait()),
        }
        try:
            while True:
                timeout = min(poll, deadline - time.monotonic())
                if timeout <= 0:
                    break
                done, _ = await asyncio.wait(
                    waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    break
                try:
                    if self.store.changed():
                        break
                except StoreError:
                    break
        finally:
            for w in waiters:
                w.cancel()
        self._wake.clear()

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def _claim_all(self) -> int:
        self._freed.clear()  # slots freed from here on are seen by this claim or wake the next
        now = self.clock()
        batch = self.config.worker.batch
        paused = self._paused_channels(now)
        limits: dict[str | None, int] = {
            lane.name: min(lane.free, batch)
            for lane in self.lanes.values()
            if lane.free > 0 and lane.name not in paused
        }
        if not limits:
            return 0
        claims = await asyncio.get_running_loop().run_in_executor(
            self._writer,
            self.store.claim_many,
            self.worker,
            now,
            self.config.worker.lease,
            limits,
            self._gates,
        )
        self._start(claims)
        return len(claims)

    def _refill(self, finished: Sequence[tuple[Claim, AttemptRecord, Next]]) -> Refill | None:
        """What to claim where ``finished`` are recorded: the slots they leave, per channel.

        Their tasks still count in flight until they end; the ledger's gate counts
        the deliveries it holds in flight, so no channel gets more than its concurrency.
        A channel where an attempt of the batch failed is left to the next claim: the
        failure is counted by its circuit only after the batch is recorded, and a claim
        in the same transaction would get past a circuit about to open (or a probe's
        cool-down).
        """
        if self._stopping:
            return None
        failing = {
            claim.channel
            for claim, record, _ in finished
            if record.outcome is not Outcome.delivered
        }
        freeing = Counter(claim.channel for claim, _, _ in finished)
        batch = self.config.worker.batch
        limits: dict[str | None, int] = {}
        for lane in self.lanes.values():
            free = lane.free + freeing[lane.name]
            if free > 0 and lane.name not in self._paused and lane.name not in failing:
                limits[lane.name] = min(free, batch)
        if not limits:
            return None
        return Refill(self.clock(), self.config.worker.lease, limits, self._gates)

    def _start(self, claims: list[Claim]) -> None:
        for claim in claims:
            lane = self.lanes[claim.channel]
            lane.in_flight += 1
            task = asyncio.create_task(self._attempt(lane, claim))
            self._tasks[task] = claim
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        claim = self._tasks.pop(task)
        lane = self.lanes[claim.channel]
        lane.in_flight -= 1
        if lane.free > 0 or not self._tasks:
            self._freed.set()

    async def _notice(self, claim: Claim) -> Notice:
        """The claim's notice, parsed and with its body sanitised for the channels; cached."""
        key = (claim.notice_id, claim.notice_version)
        loading = self._notices.get(key)
        if loading is None:
            loading = self._load(key)
            # A failed load whose every waiter was interrupted is not reported as unread.
            loading.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._notices[key] = loading
            if len(self._notices) > 1024:
                self._notices.popitem(last=False)
        try:
            # Shielded: one attempt interrupted does not cancel the load the others await.
            cached = loading.result() if loading.done() else await asyncio.shield(loading)
        except Exception:
            # The ledger's trouble (StoreError), not the notice's: the next attempt loads again.
            if self._notices.get(key) is loading:
                del self._notices[key]
            raise
        if isinstance(cached, NoticeError):
            raise PermanentDeliveryError(
                f"the stored notice {claim.notice_id} v{claim.notice_version} "
                f"cannot be read: {cached}"
            )
        return cached

    async def _render(self, lane: _Lane, notice: Notice, ctx: DeliveryContext) -> Payload:
        """The channel's payload; a large body is rendered off the loop, so others keep moving.

        Rendering is pure: an exception other than a delivery error (a parser
        failing on odd markup) would fail the same way every time, so it is permanent.
        """
        try:
            if len(notice.body_html) > RENDER_INLINE_CHARS:
                return await asyncio.to_thread(lane.adapter.render, notice, ctx)
            return lane.adapter.render(notice, ctx)
        except DeliveryError:
            raise
        except Exception as exc:
            raise PermanentDeliveryError(
                f"cannot render the notice for this channel: {type(exc).__name__}: {exc}"
            ) from None

    def _load(self, key: tuple[str, int]) -> asyncio.Future[Notice | NoticeError]:
        """The notice read back (a point read, on the loop like the worker's other reads),
        then parsed and sanitised: on the loop when small, in a thread when large.

        A thread for every notice cost more than the work it moved: handing it over
        and back, and the lock the threads then contend for, took three times the
        parse itself (bench/RESULTS.md).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Notice | NoticeError] = loop.create_future()
        try:
            record = self.store.notice(*key)
        except StoreError as exc:  # the ledger's trouble, not the notice's: tried again
            done.set_exception(exc)
            return done
        if record is not None and len(record.content) > RENDER_INLINE_CHARS:
            return asyncio.ensure_future(asyncio.to_thread(_parsed, record))
        done.set_result(_parsed(record))
        return done

    async def _attempt(self, lane: _Lane, claim: Claim) -> None:
        if claim.purpose is not Purpose.publish and await self._settled_unsent(lane, claim):
            return
        started = self.clock()
        sha: str | None = None
        receipt = None
        error: BaseException | None = None
        deadline: asyncio.Timeout | None = None
        # Once the request may have gone out (or an earlier one's outcome is still
        # unknown), an interruption or a timeout leaves the delivery in doubt.
        doubt = claim.in_doubt
        try:
            notice = await self._notice(claim)
            ctx = self._context(lane, claim)
            rendered = self._payloads.get(claim.delivery_id, notice, ctx)
            if rendered is None:
                payload = await self._render(lane, notice, ctx)
                rendered = self._payloads.put(claim.delivery_id, notice, ctx, payload)
            payload, sha = rendered.payload, rendered.sha256
            if lane.interval is not None:
                await self._pace(lane)
            started = self.clock()
            async with asyncio.timeout(lane.timeout) as deadline:
                if claim.in_doubt:
                    receipt = await self._look_up(lane, notice, ctx)
                if receipt is None:
                    doubt = True
                    receipt = await lane.adapter.send(payload, ctx)
        except asyncio.CancelledError:
            kind = InDoubtDeliveryError if doubt else TransientDeliveryError
            error = kind("interrupted: the worker stopped during the attempt")
            await self._finish(lane, claim, started, sha, None, error, interrupted=True)
            raise
        except TimeoutError as exc:
            # Ours (the channel's timeout) or one an adapter let through: both transient.
            ours = deadline is not None and deadline.expired()
            kind = InDoubtDeliveryError if doubt else TransientDeliveryError
            error = kind(f"no answer within {lane.timeout:g}s" if ours else f"timed out: {exc}")
        except Exception as exc:  # the worker must outlive any adapter
            error = exc
        await self._finish(lane, claim, started, sha, receipt, error)

    async def _settled_unsent(self, lane: _Lane, claim: Claim) -> bool:
        """A withdrawal or an expiry that needs nothing sent, recorded as such; True if so.

        One the channel's adapter does not handle fails for good, saying so; one of a
        notice the channel does not carry (nothing of it was delivered there) is done.
        """
        started = self.clock()
        kind = type(lane.adapter)
        if claim.purpose not in kind.purposes_for(lane.adapter.options):
            error = PermanentDeliveryError(
                f"channel {lane.name!r} ({kind.kind}) does not handle a {claim.purpose.value}: "
                f"take the notice down there by hand"
            )
            await self._finish(lane, claim, started, None, None, error)
            return True
        if self._context(lane, claim).previous is None:
            receipt = Receipt(
                status="not carried",
                detail=f"nothing of the notice was delivered on this channel: no "
                f"{claim.purpose.value} to send",
            )
            await self._finish(lane, claim, started, None, receipt, None)
            return True
        return False

    def _context(self, lane: _Lane, claim: Claim) -> DeliveryContext:
        previous = None
        follow_up = claim.purpose is not Purpose.publish
        if claim.notice_version > 1 or follow_up:
            previous = self.store.earlier_delivery(
                claim.notice_id, claim.notice_version, claim.channel, including=follow_up
            )
        withdrawal = None
        if claim.purpose is Purpose.withdrawal:
            withdrawal = self.store.withdrawal(claim.notice_id)
        return DeliveryContext(
            channel=lane.name,
            idempotency_key=claim.idempotency_key,
            delivery_id=claim.delivery_id,
            attempt=claim.attempts + 1,
            notice_digest=claim.notice_digest,
            previous=previous,
            in_doubt=claim.in_doubt,
            purpose=claim.purpose,
            withdrawal=withdrawal,
        )

    async def _look_up(self, lane: _Lane, notice: Notice, ctx: DeliveryContext) -> Receipt | None:
        """Ask the channel whether an earlier attempt reached it; failing to ask stays in doubt."""
        try:
            found = await lane.adapter.look_up(notice, ctx)
        except Exception as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise InDoubtDeliveryError(
                f"an earlier attempt may have reached the channel, and looking it up failed: "
                f"{reason}"
            ) from None
        if found is not None:
            log.info(
                "delivery %s: the channel already has it (%s); not sent again",
                ctx.idempotency_key,
                self.mask.optional(found.url or found.remote_id),
            )
        return found

    async def _finish(
        self,
        lane: _Lane,
        claim: Claim,
        started: float,
        sha: str | None,
        receipt: Receipt | None,
        error: BaseException | None,
        *,
        interrupted: bool = False,
    ) -> None:
        now = self.clock()
        result: Receipt | BaseException = error if error is not None else receipt or Receipt()
        decision = decide(
            result,
            claim,
            lane.schedule,
            now,
            started=started,
            payload_sha256=sha,
            interrupted=interrupted,
            mask=self.mask,
        )
        record, next_ = decision.record, decision.next
        if next_.state.terminal:
            self._payloads.drop(claim.delivery_id)
        saved = await self._save(claim, record, next_, patient=not interrupted)
        # The channel failed whether or not the result could be written: the circuit counts it.
        if decision.circuit is CircuitEffect.failure:
            await self._circuit_failure(lane, now, decision.message)
        elif decision.circuit is CircuitEffect.none:
            await self._circuit_write(self.store.release_probe, lane.name, now)
        if not saved:
            return
        if next_.state in (DeliveryState.failed, DeliveryState.dead) and claim.kind == "notice":
            # (A failed alert raises none: alerts about alerts could go round for ever.)
            incident: Incident = "failed" if next_.state is DeliveryState.failed else "dead"
            await self._alert(
                alerts.delivery_ended(
                    incident,
                    claim.delivery_id,
                    claim.attempts + 1,
                    claim.channel,
                    f"{claim.notice_id}.v{claim.notice_version}",
                    decision.message,
                    now,
                )
            )
        if self.listener is not None:
            self.listener(
                AttemptEvent(
                    claim,
                    record.outcome,
                    next_.state,
                    decision.message,
                    next_.at,
                    record.remote_id,
                    record.remote_url,
                )
            )

    async def _save(
        self, claim: Claim, record: AttemptRecord, next_: Next, *, patient: bool
    ) -> bool:
        """Write the attempt; while the ledger is locked or full, keep trying within the lease."""
        pause = 0.05
        while True:
            try:
                if await self._recorder.record(claim, record, next_):
                    return True
                log.warning(
                    "delivery %s was claimed by another worker; this result is not recorded",
                    claim.idempotency_key,
                )
                return False
            except StoreError as exc:
                if not patient or self.clock() + pause >= claim.lease_expires_at:
                    # Unrecorded: the lease expires and the delivery is tried again.
                    log.error("cannot record the attempt on %s: %s", claim.idempotency_key, exc)
                    return False
                log.warning(
                    "cannot record the attempt on %s yet (%s); retrying in %.2fs",
                    claim.idempotency_key,
                    exc,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _pace(self, lane: _Lane) -> None:
        """Wait for a start the rate limit allows, booked in the ledger for all workers.

        A start woken too late (a busy machine) is not taken: two late starts would reach
        the channel together. Another slot is booked instead.
        """
        interval = lane.interval
        assert interval is not None
        loop = asyncio.get_running_loop()
        while True:
            # The time is read when the booking runs, not when it was queued: a slot booked
            # in the past would start late and bunch with the next one.
            start_at = await loop.run_in_executor(
                self._writer, lambda: self.store.book_start(lane.name, interval, self.clock())
            )
            wait = start_at - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.clock() - start_at > interval / 2:
                continue
            # This worker's own starts never come closer than the interval either.
            while (wait := lane.last_start + interval - self.clock()) > 0:
                await asyncio.sleep(wait)
            lane.last_start = self.clock()
            return

    async def _circuit_write(self, write: Callable[..., object], *args: object) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, write, *args)
        except StoreError as exc:
            log.error("cannot record a channel's circuit: %s", exc)

    async def _alert(self, alert: alerts.Alert) -> None:
        """Enqueue ``alert`` (once in the ledger, whichever worker saw it) and look for work."""
        if not self._alerter.wants(alert.incident):
            return
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._writer, self._alerter.send, alert):
            self.wake()

    async def _catch_up_alerts(self) -> None:
        loop = asyncio.get_running_loop()
        if await loop.run_in_executor(self._writer, self._alerter.catch_up, self.clock()):
            self.wake()

    def _recovered(self, circuits: list[CircuitRow]) -> None:
        """Deliveries just recorded closed these circuits: each outage's recovery is told."""
        now = self.clock()
        for row in circuits:
            opened_at = row.opened_at if row.opened_at is not None else row.updated_at
            log.info("channel %s: circuit closed, the channel delivers again", row.channel)
            alert = alerts.circuit_closed(row.channel, opened_at, now)
            task = asyncio.ensure_future(self._alert(alert))
            self._alerting.add(task)
            task.add_done_callback(self._alerting.discard)

    async def _circuit_failure(self, lane: _Lane, now: float, message: str = "") -> None:
        try:
            row, opened = await asyncio.get_running_loop().run_in_executor(
                self._writer, self.store.circuit_failure, lane.name, lane.gate, now, self.worker
            )
        except StoreError as exc:
            log.error("cannot record the circuit of %s: %s", lane.name, exc)
            return
        if opened:
            log.warning(
                "channel %s: circuit open after %d failures in a row; next probe in %gs",
                lane.name,
                row.failures,
                lane.gate.cool_down,
            )
        if opened and row.opened_at == now:  # a new outage, not a failed probe reopening one
            await self._alert(alerts.circuit_opened(lane.name, now, row.failures, message))

    async def _shutdown(self) -> None:
        """Let in-flight attempts finish within the grace period, then interrupt them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.worker.grace
        # (A batch recorded just before the stop may have claimed more: those are waited for too.)
        while self._tasks:
            pending = set(self._tasks)
            _, still = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        for lane in self.lanes.values():
            try:
                await lane.adapter.aclose()
            except Exception as exc:
                log.warning("closing channel %s: %s", lane.name, exc)
