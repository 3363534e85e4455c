"""A preview: exactly what one channel would receive for a notice, sent nowhere."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..adapter import Adapter, DeliveryContext
from ..errors import NoticeError, Problem
from ..notice import Notice
from ..sanitize import sanitized_notice
from ..store.base import EarlierDelivery, idempotency_key


@dataclass(frozen=True)
class PreviewPart:
    """One named part of a payload: an HTTP body, a file, an e-mail's source, a feed item."""

    name: str
    size: int
    sha256: str
    text: str | None  # None: not UTF-8 text (a DOCX file, an attachment)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "text": self.text}


@dataclass(frozen=True)
class Preview:
    """What ``channel`` would receive for one notice version, and its digest."""

    notice_id: str
    version: int
    channel: str
    idempotency_key: str
    target: str
    media_type: str
    headers: Mapping[str, str]
    parts: tuple[PreviewPart, ...]
    payload_sha256: str
    notice_digest: str
    text: str  # the whole payload as an operator reads it

    def as_dict(self) -> dict[str, Any]:
        return {
            "notice": self.notice_id,
            "version": self.version,
            "channel": self.channel,
            "idempotency_key": self.idempotency_key,
            "target": self.target,
            "media_type": self.media_type,
            "headers": dict(self.headers),
            "parts": [p.as_dict() for p in self.parts],
            "payload_sha256": self.payload_sha256,
            "notice_digest": self.notice_digest,
        }


def preview(
    adapter: Adapter[Any], notice: Notice, previous: EarlierDelivery | None = None
) -> Preview:
    """Render ``notice`` for the adapter's channel; NoticeError if the channel cannot take it.

    ``previous`` is what the channel carries of an earlier version (a correction
    renders as the update or retraction of it, as the worker would send it).
    """
    channel = adapter.channel
    problems = adapter.check(notice)
    if problems:
        raise NoticeError([Problem("", f"channel {channel!r} needs {p}") for p in problems])
    digest = notice.digest()
    key = idempotency_key(notice.id, notice.version, channel)
    channel_notice, _ = sanitized_notice(notice)  # as the worker renders it
    ctx = DeliveryContext(
        channel=channel, idempotency_key=key, notice_digest=digest, previous=previous
    )
    payload = adapter.render(channel_notice, ctx)
    return Preview(
        notice.id,
        notice.version,
        channel,
        key,
        payload.target,
        payload.media_type,
        dict(payload.headers),
        tuple(_part(name, content) for name, content in payload.parts.items()),
        payload.digest(),
        digest,
        payload.preview(),
    )


def _part(name: str, content: bytes) -> PreviewPart:
    try:
        text: str | None = content.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return PreviewPart(name, len(content), hashlib.sha256(content).hexdigest(), text)
