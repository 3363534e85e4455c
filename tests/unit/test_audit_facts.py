"""A time the canonical notice states, found in a channel's text however a clerk typed it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syndicate.audit.facts import Fact, Rendering, canonical_facts
from syndicate.notice import Notice

ROOT = Path(__file__).resolve().parents[2]


def listing_start() -> Fact:
    """2026-11-05 09:00 in Beijing time, from the example land transfer notice."""
    data = json.loads((ROOT / "examples/notices/land-transfer.json").read_text("utf-8"))
    facts = {f.name: f for f in canonical_facts(Notice.parse(data))}
    return facts["land_mineral.listing_start"]


@pytest.mark.parametrize(
    "text",
    [
        "挂牌时间：2026-11-05 09:00至2026-11-16 16:00",
        "挂牌时间：2026年11月5日 09:00至2026年11月16日 16:00",
        "挂牌时间：2026年11月5日09:00至2026年11月16日16:00",
        "挂牌时间：2026年11月5日9:00至2026年11月16日16:00",
        "挂牌时间：2026年11月5日 9:00 至 16日16:00",
        "挂牌时间：2026年11月5日9时00分至2026年11月16日16时00分",
        "挂牌时间：2026年11月5日9时至2026年11月16日16时",
    ],
)
def test_the_time_is_found_as_typed(text: str) -> None:
    assert Rendering(text).carries(listing_start())


@pytest.mark.parametrize(
    "text",
    [
        "挂牌时间：2026年11月5日19:00至2026年11月16日16:00",  # another hour
        "挂牌时间：2026年11月5日9时30分至2026年11月16日16时",  # another minute
        "挂牌时间：2026年11月15日09:00至2026年11月16日16:00",  # another day
        "挂牌时间：2026年11月5日至2026年11月16日",  # no time at all
    ],
)
def test_another_time_is_not_taken_for_it(text: str) -> None:
    assert not Rendering(text).carries(listing_start())
