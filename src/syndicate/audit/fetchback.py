"""Fetch-back verification: is what a channel published still there, and does it still say it?

For each notice's newest version delivered on a channel that can be read back
(its adapter implements ``read_back``), what the channel holds now is read:

- a page (``cms_http``, ``land_market``: the receipt's URL) is searched for the
  notice's key facts;
- the payload's own parts (``sftp_inbox``: the files in the inbox, stat'ed and
  read; ``led_feed``: the item in every feed file of every screen) are held
  against what was sent, part by part, size and SHA-256, when rendering the
  notice again gives the payload the ledger recorded; otherwise as a whole
  against the ledger's SHA-256.

Each check is recorded as a link of the ledger's hash chain (kind ``check``),
so the record of checks is as tamper-evident as the deliveries:

  verified     there and as sent (or taken down as it should be: expired)
  mismatch     there but changed: the facts or parts that differ are named
  missing      the channel no longer holds it (404/410, files or item gone)
  unreachable  the channel could not be asked (named why)

Listeners (``CheckListener``) are told of every check once it is recorded;
operator alerts hook in there.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..adapter import Adapter, DeliveryContext, HeldPart, Landed, Payload, TakenDown
from ..errors import DeliveryError
from ..notice import Notice
from ..store.base import AttemptFilter, AttemptRow, DeliveryRow, DeliveryState, Purpose, Store
from .chain import Event
from .consistency import delivery_context, sent_attempt
from .facts import Rendering, canonical_facts

log = logging.getLogger("syndicate.fetch_back")


class CheckResult(StrEnum):
    verified = "verified"
    mismatch = "mismatch"
    missing = "missing"
    unreachable = "unreachable"

    @property
    def alert(self) -> bool:
        """A published notice that changed or vanished: an operator must look."""
        return self in (CheckResult.mismatch, CheckResult.missing)


@dataclass(frozen=True)
class FetchCheck:
    delivery_id: int
    notice_id: str
    version: int
    channel: str
    url: str | None
    result: CheckResult
    detail: str
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery_id,
            "notice": self.notice_id,
            "version": self.version,
            "channel": self.channel,
            "url": self.url,
            "result": self.result.value,
            "detail": self.detail,
            "at": self.at,
        }


_TAG = re.compile(r"<[^>]+>")

CheckListener = Callable[[FetchCheck], None]
"""Told of every check once it is in the ledger's chain (from a thread): where alerts hook in."""


async def _check(
    store: Store,
    adapter: Adapter[Any],
    notice: Notice,
    digest: str,
    delivery: DeliveryRow,
    now: float,
    timeout: float,
) -> FetchCheck | None:
    def read_ledger() -> tuple[AttemptRow | None, DeliveryContext]:
        of_version = AttemptFilter(
            notice_id=delivery.notice_id,
            channel=delivery.channel,
            notice_version=delivery.notice_version,
        )
        sent = sent_attempt([a for a in store.attempts(of_version) if a.delivery_id == delivery.id])
        return sent, delivery_context(store, notice, digest, delivery, sent)

    # The ledger is read in a thread: in a worker, the loop keeps the deliveries moving.
    sent, ctx = await asyncio.to_thread(read_ledger)
    landed = Landed(delivery.remote_id, delivery.remote_url)

    def made(result: CheckResult, detail: str) -> FetchCheck:
        return FetchCheck(
            delivery.id,
            delivery.notice_id,
            delivery.notice_version,
            delivery.channel,
            delivery.remote_url,
            result,
            detail,
            now,
        )

    try:
        found = await asyncio.wait_for(adapter.read_back(notice, ctx, landed), timeout)
    except NotImplementedError:
        return None  # this kind of channel cannot be read back
    except DeliveryError as exc:
        return made(CheckResult.unreachable, exc.message)
    except TimeoutError:
        return made(CheckResult.unreachable, f"{adapter.describe()}: no answer within {timeout:g}s")
    if isinstance(found, TakenDown):
        return made(CheckResult.verified, f"taken down as it should be: {found.reason}")
    if found is None or (not isinstance(found, str) and all(h.size is None for h in found)):
        return made(CheckResult.missing, "the channel no longer holds it")
    if isinstance(found, str):
        return made(*_page(adapter, notice, found))
    return made(*_parts(adapter, notice, ctx, found, sent.payload_sha256 if sent else None))


def _page(adapter: Adapter[Any], notice: Notice, text: str) -> tuple[CheckResult, str]:
    """A page read back: are the notice's key facts on it?"""
    page = Rendering(html.unescape(_TAG.sub(" ", html.unescape(text))))
    carried = adapter.facts_carried
    lacking = [
        f"{fact.label} ({fact.name}) {fact.value!r}"
        for fact in canonical_facts(notice)
        if (carried is None or fact.name in carried) and not page.carries(fact)
    ]
    if lacking:
        return CheckResult.mismatch, "not found on the page: " + "; ".join(lacking)
    return CheckResult.verified, "every key fact is on the page"


def _short(digest: str) -> str:
    return digest[:12] + "…"


def _parts(
    adapter: Adapter[Any],
    notice: Notice,
    ctx: DeliveryContext,
    held: Sequence[HeldPart],
    recorded: str | None,
) -> tuple[CheckResult, str]:
    """The payload's parts read back, held against what the ledger says was sent."""
    try:
        expected: Payload | None = adapter.render(notice, ctx)
    except DeliveryError:
        expected = None
    if expected is not None and recorded in (None, expected.digest()):
        return _part_by_part(expected, held)
    # The rendering is not what was sent (the channel's settings changed since): only the
    # whole can be held against the ledger's SHA-256.
    if recorded is None:
        return (
            CheckResult.mismatch,
            "the notice cannot be rendered again and no payload is recorded",
        )
    copies: dict[str, bytes] = {}
    for h in held:
        if h.content is None or copies.setdefault(h.part, h.content) != h.content:
            return CheckResult.mismatch, (
                f"{h.where} is not what the other copies hold, or was not read; the channel's "
                "rendering changed since delivery, so it cannot be compared part by part"
            )
    now = Payload("", copies).digest()
    if now == recorded:
        return CheckResult.verified, f"every part is as sent (sha256 {_short(recorded)})"
    return CheckResult.mismatch, (
        f"what the channel holds (sha256 {_short(now)}) is not the payload sent "
        f"(sha256 {_short(recorded)}); the channel's rendering changed since delivery, so "
        "the part that differs cannot be named"
    )


def _part_by_part(expected: Payload, held: Sequence[HeldPart]) -> tuple[CheckResult, str]:
    differences: list[str] = []
    for name, content in expected.parts.items():
        copies = [h for h in held if h.part == name]
        if not copies:
            differences.append(f"{name}: gone")
        sha = hashlib.sha256(content).hexdigest()
        for h in copies:
            if h.size is None:
                differences.append(f"{h.where}: gone")
            elif h.size != len(content):
                differences.append(f"{h.where}: {h.size} bytes, {len(content)} sent")
            elif h.content is None:
                differences.append(f"{h.where}: not read back")
            elif (now := hashlib.sha256(h.content).hexdigest()) != sha:
                differences.append(
                    f"{h.where}: content differs (sha256 {_short(now)}, sent {_short(sha)})"
                )
    if differences:
        return CheckResult.mismatch, "; ".join(differences)
    places = len({h.where for h in held})
    return CheckResult.verified, (
        f"{len(expected.parts)} parts as sent, size and sha256, in {places} places"
    )


def _due(delivery: DeliveryRow, interval: float | None, last: dict[int, float], now: float) -> bool:
    """A channel with a fetch-back interval, and this delivery not read back within it."""
    if interval is None:
        return False
    return now - last.get(delivery.id, float("-inf")) >= interval


def _newest(deliveries: list[DeliveryRow]) -> list[DeliveryRow]:
    """Each notice's newest version delivered on each channel: what the channel shows now.

    An older version was updated in place or replaced by the newer one; reading it
    back would find the correction, not a tampered page.
    """
    newest: dict[tuple[str, str], DeliveryRow] = {}
    for d in deliveries:
        key = (d.notice_id, d.channel)
        if key not in newest or d.notice_version > newest[key].notice_version:
            newest[key] = d
    return [d for d in deliveries if newest[(d.notice_id, d.channel)] is d]


async def fetch_back(
    store: Store,
    adapter_of: Callable[[str], Adapter[Any] | None],
    notice_of: Callable[[str, int], tuple[Notice, str]],
    now: float,
    *,
    notice_id: str | None = None,
    channel: str | None = None,
    every: Callable[[str], float | None] | None = None,
    timeout: Callable[[str], float] = lambda _channel: 60.0,
    listeners: Sequence[CheckListener] = (),
    published: Callable[[DeliveryRow], bool] = lambda _delivery: True,
) -> list[FetchCheck]:
    """Check each delivered delivery (of a notice, a channel) that can be read back; record it.

    ``published`` says which deliveries carry the center's notices (an operator
    alert does not: it is not checked). Each listener is told of every check after
    the checks are in the chain.
    """
    checks: list[FetchCheck] = []

    def due() -> list[DeliveryRow]:
        found = [
            d
            for d in store.deliveries(
                notice_id=notice_id, channel=channel, state=DeliveryState.delivered
            )
            if published(d)
        ]
        # A notice withdrawn or expired on a channel was taken down there on purpose.
        taken_down = {(d.notice_id, d.channel) for d in found if d.purpose is not Purpose.publish}
        delivered = _newest(
            [
                d
                for d in found
                if d.purpose is Purpose.publish and (d.notice_id, d.channel) not in taken_down
            ]
        )
        if every is None:
            return delivered
        intervals = [
            i for i in {every(ch) for ch in {d.channel for d in delivered}} if i is not None
        ]
        if not intervals:
            return []
        # A check older than the longest interval leaves its delivery due on any channel:
        # only the checks since then are read, however long fetch-back has been running.
        last = store.last_checks(now - max(intervals))
        return [d for d in delivered if _due(d, every(d.channel), last, now)]

    deliveries = await asyncio.to_thread(due)
    for delivery in deliveries:
        adapter = adapter_of(delivery.channel)
        if adapter is None:
            continue
        notice, digest = notice_of(delivery.notice_id, delivery.notice_version)
        found = await _check(
            store, adapter, notice, digest, delivery, now, timeout(delivery.channel)
        )
        if found is not None:
            checks.append(found)
    await asyncio.to_thread(
        store.append_to_chain,
        [Event("check", c.delivery_id, {"check": c.as_dict()}, c.at) for c in checks],
    )
    if checks and listeners:
        # In a thread: a listener may write to the ledger (an alert) or wait on a network.
        await asyncio.to_thread(_tell, listeners, checks)
    return checks


def _tell(listeners: Sequence[CheckListener], checks: list[FetchCheck]) -> None:
    for check in checks:
        for listener in listeners:
            try:
                listener(check)
            except Exception:
                # The check is recorded; a listener that fails must not undo or stop that.
                log.exception("a fetch-back listener failed on delivery %d", check.delivery_id)
