"""What every scenario shares: the notices, the channels.yaml, the engine's parts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from syndicate_adapters.cms_http import default_document

from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry

CHANNELS = 5

_BASE: dict[str, Any] = {
    "id": "HYZB-2026-0001",
    "version": 1,
    "category": "construction",
    "notice_type": "tender",
    "project_code": "HYZB2026-001",
    "title": "河源市东环路改造工程施工招标公告",
    "body_html": "<p>河源市东环路改造工程已具备招标条件，现对该项目施工进行公开招标。</p>"
    "<p>项目位于河源市源城区，建设规模约3.2公里，计划工期365日历天。</p>",
    "summary": "东环路改造工程施工招标，投标截止12月18日",
    "region_code": "441600",
    "publisher": {"name": "河源市公共资源交易中心"},
    "valid_until": "2036-12-18T09:30:00+08:00",
    "construction": {"max_price": {"value": "3850000.00", "unit": "元"}},
}

# Published an hour ago: no embargo holds any delivery back.
_PUBLISH_AT = (datetime.now(UTC) - timedelta(hours=1)).isoformat()


def notice(i: int, prefix: str = "BENCH") -> dict[str, Any]:
    """The i-th benchmark notice: a construction tender of about 1 KB."""
    data = copy.deepcopy(_BASE)
    data["id"] = f"{prefix}-{i:07d}"
    data["project_code"] = f"HYZB2026-{i:07d}"
    data["publish_at"] = _PUBLISH_AT
    return data


def body(i: int, prefix: str = "BENCH") -> bytes:
    """The JSON body cms_http posts for notice i, for the bare-client contenders."""
    document = default_document(Notice.parse(notice(i, prefix)))
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_config(
    folder: Path,
    urls: list[str],
    *,
    concurrency: int,
    poll_interval: float = 0.02,
    grace: float = 30.0,
    timeout: float = 60.0,
    adapter: str = "cms_http",
) -> Path:
    """A channels.yaml with one cms_http channel per URL (ch0, ch1, …), the ledger beside it."""
    lines = [
        "version: 1",
        "store:",
        "  url: sqlite:///ledger.db",
        "worker:",
        f"  lease: {max(120.0, timeout * 2):g}s",
        f"  poll_interval: {poll_interval:g}s",
        f"  grace: {grace:g}s",
        "defaults:",
        f"  concurrency: {concurrency}",
        f"  timeout: {timeout:g}s",
        "  retry: {max_attempts: 5, initial_delay: 1s, multiplier: 2, max_delay: 10s}",
        "channels:",
    ]
    for n, url in enumerate(urls):
        lines += [f"  ch{n}:", f"    adapter: {adapter}", f"    url: {url}"]
    names = ", ".join(f"ch{n}" for n in range(len(urls)))
    lines += ["routes:", f"  - channels: [{names}]"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "channels.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def channel_urls(base: str, hole: str | None = None) -> list[str]:
    """Five sink paths; with ``hole``, the last channel goes to the black hole instead."""
    urls = [f"{base}/ch{n}" for n in range(CHANNELS)]
    if hole is not None:
        urls[-1] = f"{hole}/ch{CHANNELS - 1}"
    return urls


def registry() -> AdapterRegistry:
    """The installed adapters plus the benchmark's what-if variants."""
    from .variants import register

    reg = AdapterRegistry.from_entry_points()
    register(reg)
    return reg
