"""The yearly report: what a year's notices came to, by category and channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..labels import CATEGORY_LABELS
from ..store.base import Store


@dataclass(frozen=True)
class YearReport:
    """Notices published in ``year`` (Asia/Shanghai) by category; delivered deliveries by channel.

    A notice counts in the year of its ``publish_at``; every version counts.
    """

    year: int
    channels: tuple[str, ...]
    notices: Mapping[str, int]  # by category
    delivered: Mapping[str, Mapping[str, int]]  # category -> channel -> delivered
    routed: Mapping[str, Mapping[str, int]]  # category -> channel -> routed

    @property
    def categories(self) -> tuple[tuple[str, str], ...]:
        """(category, label) in the order of the yearly report."""
        return tuple(CATEGORY_LABELS.items())

    @property
    def total_notices(self) -> int:
        return sum(self.notices.values())

    def channel_total(self, channel: str) -> int:
        return sum(by_channel.get(channel, 0) for by_channel in self.delivered.values())

    @property
    def not_delivered(self) -> int:
        routed = sum(sum(v.values()) for v in self.routed.values())
        return routed - sum(sum(v.values()) for v in self.delivered.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "labels": dict(CATEGORY_LABELS),
            "channels": list(self.channels),
            "notices": {cat: self.notices.get(cat, 0) for cat in CATEGORY_LABELS},
            "delivered": {
                cat: {ch: self.delivered.get(cat, {}).get(ch, 0) for ch in self.channels}
                for cat in CATEGORY_LABELS
            },
            "total_notices": self.total_notices,
            "not_delivered": self.not_delivered,
        }


def year_report(store: Store, configured: Sequence[str], year: int) -> YearReport:
    counts = store.year_counts(year)
    channels = list(configured)
    channels += sorted({ch for (_, ch) in counts.routed} - set(channels))
    delivered: dict[str, dict[str, int]] = {}
    for (cat, ch), n in counts.delivered.items():
        delivered.setdefault(cat, {})[ch] = n
    routed: dict[str, dict[str, int]] = {}
    for (cat, ch), n in counts.routed.items():
        routed.setdefault(cat, {})[ch] = n
    return YearReport(year, tuple(channels), dict(counts.notices), delivered, routed)
