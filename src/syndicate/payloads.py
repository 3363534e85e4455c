"""Each delivery's payload, rendered once: a retry sends the very bytes the first try sent.

A notice version reaches a channel with one content (I5, and Art. 15's
"identical content in every medium"); rendering it again for a retry would
spend the CPU again and make that identity depend on every renderer being
deterministic. The worker keeps what it rendered, with its SHA-256 (the
digest every attempt records), until the delivery ends. Whatever shapes the
render besides the attempt — the notice, the channel, the delivery, the earlier
version's receipt — is part of the key:
when it changes (an earlier version was delivered meanwhile, so this one is
now an update), the payload is rendered anew.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from .adapter import DeliveryContext, Payload
from .notice import Notice

KEPT = 4096
"""Payloads kept at most: beyond the deliveries in flight and retrying, the oldest go."""


@dataclass(frozen=True)
class Rendered:
    """A payload as rendered for one delivery, and its digest."""

    payload: Payload
    sha256: str
    notice: Notice
    context: DeliveryContext


class RenderedPayloads:
    """The worker's rendered payloads, by delivery id, oldest dropped first."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._by_delivery: OrderedDict[int, Rendered] = OrderedDict()

    def get(self, delivery_id: int, notice: Notice, ctx: DeliveryContext) -> Rendered | None:
        """The payload rendered before for this delivery, if rendered from the same inputs."""
        found = self._by_delivery.get(delivery_id)
        if found is None or found.notice is not notice or found.context != _inputs(ctx):
            return None
        return found

    def put(
        self, delivery_id: int, notice: Notice, ctx: DeliveryContext, payload: Payload
    ) -> Rendered:
        rendered = Rendered(payload, payload.digest(), notice, _inputs(ctx))
        self._by_delivery[delivery_id] = rendered
        self._by_delivery.move_to_end(delivery_id)
        while len(self._by_delivery) > self.kept:
            self._by_delivery.popitem(last=False)
        return rendered

    def drop(self, delivery_id: int) -> None:
        """Forget a delivery that has ended."""
        self._by_delivery.pop(delivery_id, None)


def _inputs(ctx: DeliveryContext) -> DeliveryContext:
    """What a render may depend on: the context without what only the attempt says.

    (Whether the last outcome is in doubt is for ``look_up``: the retry of an attempt
    in doubt is the one that most needs the same bytes, for receivers that de-duplicate.)
    """
    return dataclasses.replace(ctx, attempt=0, in_doubt=False)
