"""Group commit: enqueues that arrive while a group is written go together, each with its answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, ClassVar

from syndicate_adapters.cms_http import CmsHttpAdapter

from syndicate import Syndicator
from syndicate.config import load_config
from syndicate.errors import NoticeConflict, NoticeError, StoreError
from syndicate.groupcommit import GroupCommit
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.store.base import AcceptResult, NoticeRecord
from syndicate.store.sqlite import SqliteStore

CONFIG = """
version: 1
store: {url: ledger.db}
channels:
  trading-website:
    adapter: cms_http
    url: http://127.0.0.1:9/api/notices
    allow_insecure_transport: true
routes:
  - match: {category: [construction]}
    channels: [trading-website]
"""


def test_items_arriving_while_a_group_is_written_go_together_in_the_next() -> None:
    groups: list[list[str]] = []
    writing, release = threading.Event(), threading.Event()

    def write(items: Sequence[str]) -> list[str]:
        groups.append(list(items))
        writing.set()
        release.wait(5)
        return [f"{item}!" for item in items]

    commit = GroupCommit[str, str](write, limit=10)

    async def go() -> list[str]:
        first = asyncio.ensure_future(commit.submit("a"))
        await asyncio.to_thread(writing.wait, 5)  # "a" is being written alone
        rest = [asyncio.ensure_future(commit.submit(x)) for x in "bcd"]
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(go()) == ["a!", "b!", "c!", "d!"]
    assert groups == [["a"], ["b", "c", "d"]]


def test_a_failed_group_fails_its_callers_only_and_a_group_has_a_limit() -> None:
    groups: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        groups.append(list(items))
        if 3 in items:
            raise StoreError("the disk is full")
        return list(items)

    commit = GroupCommit[int, int](write, limit=2)

    async def go() -> list[int | BaseException]:
        return await asyncio.gather(*(commit.submit(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(go())
    assert groups == [[0, 1], [2, 3], [4]]
    assert results[:2] == [0, 1]
    assert results[4] == 4
    assert all(isinstance(r, StoreError) for r in results[2:4])


class CountingStore(SqliteStore):
    """The SQLite ledger, counting its write transactions for notices."""

    def __init__(self, path: Path, *, fail: bool = False) -> None:
        super().__init__(path)
        self.transactions: list[int] = []
        self.fail = fail

    def accept_many(
        self,
        notices: Sequence[tuple[NoticeRecord, Sequence[str]]],
        now: float,
        *,
        by: str | None = None,
        expiring: Collection[str] = (),
        authors: Sequence[str | None] | None = None,
    ) -> list[AcceptResult | NoticeError]:
        self.transactions.append(len(notices))
        if self.fail:
            raise StoreError("the ledger is read-only")
        return super().accept_many(notices, now, by=by, expiring=expiring, authors=authors)


def engine_over(tmp_path: Path, store: SqliteStore) -> Syndicator:
    path = tmp_path / "channels.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    registry = AdapterRegistry.from_entry_points()
    return Syndicator(load_config(path, registry), registry, store)


def test_concurrent_enqueues_of_one_notice_one_is_accepted_the_rest_already(
    tmp_path: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    store = CountingStore(tmp_path / "ledger.db")
    with engine_over(tmp_path, store) as engine:
        notice = Notice.parse(make_notice())

        async def go() -> list[Any]:
            return await asyncio.gather(
                *(engine.enqueue_async(notice, by=f"client-{i}") for i in range(6))
            )

        answers = asyncio.run(go())
        assert sorted(a.created for a in answers) == [False] * 5 + [True]
        assert sum(store.transactions) == 6  # each in a transaction, however they were grouped
        (operation,) = engine.store.operations()
        created = next(i for i, a in enumerate(answers) if a.created)
        assert operation.actor == f"client-{created}"


def test_a_conflict_or_refusal_in_a_group_is_that_notice_s_alone(
    tmp_path: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    store = CountingStore(tmp_path / "ledger.db")
    with engine_over(tmp_path, store) as engine:
        engine.enqueue(make_notice())
        group = [
            Notice.parse(make_notice(title="另一个标题")),  # same id and version, other content
            Notice.parse(make_notice(id="HYZB-2026-0002")),
            Notice.parse(  # routed to no channel
                make_notice(
                    id="HYZB-2026-0003", category="work_news", notice_type="news", construction=None
                )
            ),
            Notice.parse(make_notice()),  # the same again
        ]

        async def go() -> list[Any]:
            return await asyncio.gather(
                *(engine.enqueue_async(n, by="upstream") for n in group), return_exceptions=True
            )

        conflict, accepted, refused, again = asyncio.run(go())
        assert isinstance(conflict, NoticeConflict)
        assert accepted.created
        assert accepted.channels == ["trading-website"]
        assert isinstance(refused, NoticeError)
        assert not isinstance(refused, NoticeConflict)
        assert not again.created
        assert sum(store.transactions) == 3  # the refused one never reached the ledger
    fresh = SqliteStore(tmp_path / "ledger.db")  # what a restart would find
    try:
        assert sorted(d.notice_id for d in fresh.deliveries()) == [
            "HYZB-2026-0001",
            "HYZB-2026-0002",
        ]
    finally:
        fresh.close()


def test_no_caller_hears_accepted_unless_its_group_committed(
    tmp_path: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    store = CountingStore(tmp_path / "ledger.db", fail=True)
    with engine_over(tmp_path, store) as engine:
        notices = [Notice.parse(make_notice(id=f"HYZB-2026-000{i}")) for i in range(1, 4)]

        async def go() -> list[Any]:
            return await asyncio.gather(
                *(engine.enqueue_async(n) for n in notices), return_exceptions=True
            )

        assert all(isinstance(r, StoreError) for r in asyncio.run(go()))
        assert sum(store.transactions) == 3
    fresh = SqliteStore(tmp_path / "ledger.db")
    try:
        assert fresh.deliveries() == []
    finally:
        fresh.close()


class ShakyCheckCms(CmsHttpAdapter):
    """cms_http whose check of a notice fails outright (not a refusal) for one title."""

    kind: ClassVar[str] = "shaky_check_cms"

    def check(self, notice: Notice) -> list[str]:
        if notice.title == "查不了":
            raise OSError("the attachment store did not answer")
        return []


def test_a_notice_whose_checks_fail_fails_alone_in_its_group(
    tmp_path: Path, make_notice: Callable[..., dict[str, Any]]
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(CONFIG.replace("adapter: cms_http", "adapter: shaky_check_cms"), "utf-8")
    registry = AdapterRegistry.from_entry_points()
    registry.register(ShakyCheckCms)
    store = CountingStore(tmp_path / "ledger.db")
    with Syndicator(load_config(path, registry), registry, store) as engine:
        notices = [
            Notice.parse(make_notice(id=f"HYZB-2026-000{i}", title=title))
            for i, title in enumerate(["一号", "查不了", "三号"], 1)
        ]

        async def go() -> list[Any]:
            return await asyncio.gather(
                *(engine.enqueue_async(n) for n in notices), return_exceptions=True
            )

        first, shaky, third = asyncio.run(go())
        assert isinstance(shaky, OSError)
        assert first.created
        assert third.created
        assert sum(store.transactions) == 2
