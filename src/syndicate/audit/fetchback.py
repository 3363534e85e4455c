"""Fetch-back verification: is what a channel published still there, and does it still say it?

For each delivered delivery on a channel that can be read back (its adapter
implements ``read_back``: the CMS and land-market sites fetch the receipt's
URL), the published text is fetched and the notice's key facts looked for in
it. Each check is recorded as a link of the ledger's hash chain (kind
``check``), so the record of checks is as tamper-evident as the deliveries:

  verified     the page is there and carries every key fact
  mismatch     the page is there but lacks or changes a fact (named)
  missing      the channel says the page is gone (404, 410)
  unreachable  the channel could not be asked (named why)
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..adapter import Adapter, DeliveryContext, Landed
from ..errors import DeliveryError
from ..notice import Notice
from ..store.base import DeliveryRow, DeliveryState, Store
from .chain import Event
from .facts import Rendering, canonical_facts


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


async def _check(
    adapter: Adapter[Any], notice: Notice, delivery: DeliveryRow, now: float
) -> FetchCheck | None:
    ctx = DeliveryContext(
        channel=delivery.channel,
        idempotency_key=delivery.idempotency_key,
        delivery_id=delivery.id,
        notice_digest=notice.digest(),
    )
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
        text = await adapter.read_back(notice, ctx, landed)
    except NotImplementedError:
        return None  # this kind of channel cannot be read back
    except DeliveryError as exc:
        return made(CheckResult.unreachable, exc.message)
    if text is None:
        return made(CheckResult.missing, "the channel says the page is gone")
    page = Rendering(html.unescape(_TAG.sub(" ", html.unescape(text))))
    carried = adapter.facts_carried
    lacking = [
        f"{fact.label} ({fact.name}) {fact.value!r}"
        for fact in canonical_facts(notice)
        if (carried is None or fact.name in carried) and not page.carries(fact)
    ]
    if lacking:
        return made(CheckResult.mismatch, "not found on the page: " + "; ".join(lacking))
    return made(CheckResult.verified, "every key fact is on the page")


def _last_checked(store: Store) -> dict[int, float]:
    """When each delivery was last read back, from the chain's check links."""
    last: dict[int, float] = {}
    after = 0
    while True:
        page = store.chain_links_of("check", after, 1000)
        for link in page:
            last[link.ref] = max(last.get(link.ref, 0.0), link.at)
        if len(page) < 1000:
            return last
        after = page[-1].ref


def _due(delivery: DeliveryRow, interval: float | None, last: dict[int, float], now: float) -> bool:
    """A channel with a fetch-back interval, and this delivery not read back within it."""
    if interval is None:
        return False
    return now - last.get(delivery.id, float("-inf")) >= interval


async def fetch_back(
    store: Store,
    adapter_of: Callable[[str], Adapter[Any] | None],
    notice_of: Callable[[str, int], Notice],
    now: float,
    *,
    notice_id: str | None = None,
    channel: str | None = None,
    every: Callable[[str], float | None] | None = None,
) -> list[FetchCheck]:
    """Check each delivered delivery (of a notice, a channel) that can be read back; record it."""
    checks: list[FetchCheck] = []
    deliveries = store.deliveries(
        notice_id=notice_id, channel=channel, state=DeliveryState.delivered
    )
    if every is not None:
        last = _last_checked(store)
        deliveries = [d for d in deliveries if _due(d, every(d.channel), last, now)]
    for delivery in deliveries:
        adapter = adapter_of(delivery.channel)
        if adapter is None:
            continue
        notice = notice_of(delivery.notice_id, delivery.notice_version)
        found = await _check(adapter, notice, delivery, now)
        if found is not None:
            checks.append(found)
    store.append_to_chain(
        [Event("check", c.delivery_id, {"check": c.as_dict()}, c.at) for c in checks]
    )
    return checks
