"""Fixtures every ring of tests shares: a valid notice, a registry, a config writer."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate.demo.http_sink import HttpSink
from syndicate.registry import AdapterRegistry

# The real peers (HTTP(S) server, OpenSSH sshd, aiosmtpd, WordPress, Postfix, PostgreSQL).
pytest_plugins = [
    "tests.peers.http",
    "tests.peers.smtp",
    "tests.peers.sshd",
    "tests.peers.wordpress",
    "tests.peers.postfix",
    "tests.peers.postgres",
]


# Tests that configure something the machine has one of: under pytest-xdist each file's tests
# all run on one worker, so only one process ever starts its fixture.
ONE_WORKER = ("tests/integration/test_postfix.py",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist load`` (what ``-n`` does by default), keeping each ONE_WORKER file together."""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LoadKeepingMachinePeers(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER else nodeid

    return LoadKeepingMachinePeers(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first: under pytest-xdist one drawn last would keep a worker busy for
    minutes after the others have finished."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


BASE_NOTICE: dict[str, Any] = {
    "id": "HYZB-2026-0001",
    "version": 1,
    "category": "construction",
    "notice_type": "tender",
    "project_code": "HYZB2026-001",
    "title": "河源市东环路改造工程施工招标公告",
    "body_html": "<p>河源市东环路改造工程已具备招标条件，现对该项目施工进行公开招标。</p>",
    "summary": "东环路改造工程施工招标，投标截止12月18日",
    "region_code": "441600",
    "publisher": {"name": "河源市公共资源交易中心"},
    "publish_at": "2026-11-20T09:00:00+08:00",
    "valid_until": "2036-12-18T09:30:00+08:00",
    "construction": {"max_price": {"value": "3850000.00", "unit": "元"}},
}


@pytest.fixture
def make_notice() -> Callable[..., dict[str, Any]]:
    """A valid notice as a dict; keyword arguments replace top-level fields."""

    def make(**fields: Any) -> dict[str, Any]:
        data = copy.deepcopy(BASE_NOTICE)
        data.update(fields)
        return {k: v for k, v in data.items() if v is not None}

    return make


@pytest.fixture
def registry() -> AdapterRegistry:
    return AdapterRegistry.from_entry_points()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a channels.yaml into a fresh folder; the ledger goes beside it."""

    def write(text: str) -> Path:
        path = tmp_path / "channels.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    with HttpSink() as server:
        yield server


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
