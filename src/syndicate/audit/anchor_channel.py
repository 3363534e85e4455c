"""Anchors sent through a channel: the chain's head told to someone the ledger cannot reach.

``syndicate verify --anchor-channel`` verifies the ledger and, when it holds,
sends the head (its chain row, its hash, the time) as a short message through
the channel ``audit.anchor`` names — mail to the disciplinary office (纪检), a
file drop, a site. What the channel answered is recorded as a link of kind
``anchor``, and ``verify`` holds every recorded anchor against the chain. The
recorded anchors show a partial rewrite; the copy the recipient keeps shows
any: compare it with ``verify --json`` (or ``verify --anchor FILE`` of a file
made from it) at any time.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..adapter import Adapter, DeliveryContext, Receipt
from ..config import AnchorSettings
from ..notice import LOCAL_TZ, Notice
from .chain import Event, Finding, Head, Link

PREFIX = "ANCHOR-"


@dataclass(frozen=True)
class ChannelAnchor:
    """One head sent through a channel, and what the channel answered."""

    seq: int
    hash: str
    at: float
    channel: str
    receipt: Receipt
    payload_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "channel": self.channel,
            "receipt": {
                "remote_id": self.receipt.remote_id,
                "url": self.receipt.url,
                "status": self.receipt.status,
            },
            "payload_sha256": self.payload_sha256,
        }

    def event(self) -> Event:
        return Event("anchor", self.seq, {"anchor": self.as_dict()}, self.at)


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def anchor_notice(head: Head, at: float, settings: AnchorSettings) -> Notice:
    """The message that carries the head: the same head at the same time, the same text."""
    local = datetime.fromtimestamp(at, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    title = f"[syndicate] 账本锚定 (ledger anchor): 第 {head.seq} 行 {head.hash}"
    lines = [
        f"{local}（北京时间）/ {_utc(at)} 账本哈希链的最新一行 (the ledger's chain head):",
        f"chain row 行号: {head.seq}",
        f"sha256: {head.hash}",
        "请妥善保存本消息。核对：`syndicate verify --json` 中该行的哈希须始终为上述值；"
        "若不一致，说明此后账本被改写。",
        "Keep this message. The chain row above must keep this hash in every later "
        "`syndicate verify --json`; if it does not, the ledger was rewritten since.",
    ]
    return Notice.model_validate(
        {
            "id": f"{PREFIX}{head.seq}",
            "version": 1,
            "category": "work_news",
            "notice_type": "news",
            "title": title,
            "body_html": "".join(f"<p>{html.escape(line)}</p>" for line in lines),
            "summary": f"账本锚定 第{head.seq}行 {head.hash[:16]}",
            "region_code": settings.region_code,
            "publisher": {"name": settings.publisher},
            "publish_at": datetime.fromtimestamp(at, UTC),
        }
    )


async def send_anchor(
    adapter: Adapter[Any], settings: AnchorSettings, head: Head, at: float, timeout: float
) -> ChannelAnchor:
    """Send ``head`` through ``adapter``'s channel; a DeliveryError if the channel refused it."""
    notice = anchor_notice(head, at, settings)
    ctx = DeliveryContext(
        channel=adapter.channel,
        idempotency_key=f"{notice.key}.{adapter.channel}",
        notice_digest=notice.digest(),
    )
    payload = adapter.render(notice, ctx)
    receipt = await asyncio.wait_for(adapter.send(payload, ctx), timeout)
    return ChannelAnchor(head.seq, head.hash, at, adapter.channel, receipt, payload.digest())


def check_recorded(links: Iterable[Link], hash_at: Callable[[int], str | None]) -> list[Finding]:
    """Every anchor recorded in the chain against the chain's hash at the row it anchored."""
    findings = []
    for link in links:
        try:
            content = link.content()
        except ValueError:
            continue  # an unreadable link is the chain walk's finding
        anchor = content.get("anchor") if isinstance(content, dict) else None
        if not isinstance(anchor, dict):
            continue
        seq, anchored = anchor.get("seq"), anchor.get("hash")
        if not isinstance(seq, int) or hash_at(seq) == anchored:
            continue
        when = _utc(float(anchor.get("at") or link.at))
        findings.append(
            Finding(
                seq,
                "anchor",
                link.seq,
                "edited",
                f"chain row {seq} does not have the hash sent through channel "
                f"{anchor.get('channel')} on {when} (recorded by chain row {link.seq}): "
                "the ledger was rewritten since",
            )
        )
    return findings
