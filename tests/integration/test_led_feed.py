"""The led_feed adapter, read back by a real feed consumer (feedparser)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import feedparser
import pytest
from pydantic import ValidationError
from syndicate_adapters.led_feed import ELLIPSIS, LedFeedAdapter, LedFeedOptions, fit_text
from wcwidth import wcswidth

from syndicate.adapter import DeliveryContext, Receipt
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.store.base import idempotency_key

if TYPE_CHECKING:
    from tests.peers.sshd import KeyPair, SshServer

pytestmark = pytest.mark.integration

CHANNEL = "led"
LINK = "https://ggzy.heyuan.gov.cn/"
START = datetime(2016, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.value = now

    def __call__(self) -> datetime:
        return self.value


def make_notice(n: int = 1, **over: Any) -> Notice:
    data: dict[str, Any] = {
        "id": f"HYZB-2016-{n:03d}",
        "version": 1,
        "category": "construction",
        "notice_type": "tender",
        "project_code": f"HYZB-2016-{n:03d}",
        "title": f"河源市源城区市政道路改造工程({n})施工招标公告",
        "body_html": "<p>招标公告正文</p>",
        "summary": f"河源市源城区市政道路改造工程第{n}标段施工招标,投标截止2016年3月21日",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": (datetime(2016, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=n)).isoformat(),
        "valid_until": "2016-03-21T09:00:00+00:00",
    }
    data.update(over)
    return Notice.model_validate(data)


def screen(tmp_path: Path, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "hall",
        "columns": 32,
        "lines": 2,
        "format": "both",
        "encoding": "utf-8",
        "path": {"rss": "feeds/hall.rss", "atom": "feeds/hall.atom"},
        "title": "交易大厅",
        "link": LINK,
        "max_items": 50,
    }
    data.update(over)
    return data


def make_adapter(
    tmp_path: Path,
    *screens: dict[str, Any],
    now: Callable[[], datetime] | None = None,
    sftp: dict[str, Any] | None = None,
) -> LedFeedAdapter:
    raw: dict[str, Any] = {"screens": list(screens) or [screen(tmp_path)]}
    if sftp is not None:
        raw["sftp"] = sftp
    options = LedFeedOptions.model_validate(raw, context={"base_dir": tmp_path})
    return LedFeedAdapter(CHANNEL, options, now=now or Clock())


def ctx_for(notice: Notice) -> DeliveryContext:
    return DeliveryContext(CHANNEL, idempotency_key(notice.id, notice.version, CHANNEL))


def deliver(adapter: LedFeedAdapter, *notices: Notice) -> list[Receipt]:
    async def run() -> list[Receipt]:
        try:
            out = []
            for notice in notices:
                ctx = ctx_for(notice)
                out.append(await adapter.send(adapter.render(notice, ctx), ctx))
            return out
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def parse(path: Path) -> Any:
    feed = feedparser.parse(path.read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def entry_lines(entry: Any) -> list[str]:
    text: str = entry.content[0].value if "content" in entry else entry.summary
    return text.split("\n")


# --- the feed -------------------------------------------------------------------


def test_rss_and_atom_parse_with_stable_ids(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path)
    first, second = make_notice(1), make_notice(2)
    receipts = deliver(adapter, first, second)

    rss = parse(tmp_path / "feeds/hall.rss")
    atom = parse(tmp_path / "feeds/hall.atom")
    assert rss.version == "rss20"
    assert atom.version == "atom10"
    assert rss.feed.title == atom.feed.title == "交易大厅"
    keys = [ctx_for(second).idempotency_key, ctx_for(first).idempotency_key]  # newest first
    assert [e.id for e in rss.entries] == keys
    assert [e.id for e in atom.entries] == [f"urn:syndicate:{k}" for k in keys]
    assert [e.guidislink for e in rss.entries] == [False, False]
    assert entry_lines(rss.entries[1]) == fit_text("【招标】" + (first.summary or ""), 32, 2)
    assert entry_lines(atom.entries[1]) == entry_lines(rss.entries[1])
    assert rss.entries[1].title == entry_lines(rss.entries[1])[0]

    assert [r.remote_id for r in receipts] == list(reversed(keys))
    assert receipts[0].url == (tmp_path / "feeds/hall.rss").resolve().as_uri()
    assert receipts[0].detail is not None
    assert (tmp_path / "feeds/hall.atom").resolve().as_uri() in receipts[0].detail
    assert receipts[0].status == "written"


def test_resending_a_delivery_keeps_one_item_with_the_same_id(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path)
    notice = make_notice(1)
    deliver(adapter, notice)
    before = parse(tmp_path / "feeds/hall.rss")
    deliver(adapter, notice)  # a retry after a lost receipt
    after = parse(tmp_path / "feeds/hall.rss")
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    assert len(after.entries) == 1


def test_new_version_replaces_the_old_one_and_a_late_old_one_does_not_return(
    tmp_path: Path,
) -> None:
    adapter = make_adapter(tmp_path)
    v1 = make_notice(7)
    v2 = make_notice(7, version=2, nature="correction", summary="更正:第7标段投标截止延至3月28日")
    other = make_notice(8)
    deliver(adapter, v1, other, v2)
    feed = parse(tmp_path / "feeds/hall.rss")
    ids = [e.id for e in feed.entries]
    assert sorted(ids) == sorted([ctx_for(v2).idempotency_key, ctx_for(other).idempotency_key])
    v2_entry = next(e for e in feed.entries if e.id == ctx_for(v2).idempotency_key)
    assert entry_lines(v2_entry)[0].startswith("【招标】更正:第7标段")

    # version 1 retried after version 2 was shown: the screen keeps version 2
    [receipt] = deliver(adapter, v1)
    assert receipt.status == "superseded"
    feed = parse(tmp_path / "feeds/hall.atom")
    assert sorted(e.id for e in feed.entries) == sorted(
        f"urn:syndicate:{ctx_for(n).idempotency_key}" for n in (v2, other)
    )


def test_expired_items_leave_the_feed_on_the_next_write(tmp_path: Path) -> None:
    clock = Clock(START)
    adapter = make_adapter(tmp_path, now=clock)
    short = make_notice(1, valid_until="2016-03-05T09:00:00+00:00")
    long = make_notice(2, valid_until="2016-03-30T09:00:00+00:00")
    deliver(adapter, short, long)
    assert len(parse(tmp_path / "feeds/hall.rss").entries) == 2

    clock.value = datetime(2016, 3, 6, tzinfo=UTC)
    later = make_notice(3)
    deliver(adapter, later)
    for name in ("hall.rss", "hall.atom"):
        ids = [
            e.id.removeprefix("urn:syndicate:") for e in parse(tmp_path / "feeds" / name).entries
        ]
        assert ids == [ctx_for(later).idempotency_key, ctx_for(long).idempotency_key]

    # a notice already past its valid_until is taken but never shown
    stale = make_notice(4, valid_until="2016-03-05T09:00:00+00:00")
    [receipt] = deliver(adapter, stale)
    assert receipt.status == "expired"
    assert len(parse(tmp_path / "feeds/hall.rss").entries) == 2


def test_max_items_keeps_the_newest(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, max_items=3))
    notices = [make_notice(n) for n in (5, 1, 4, 2, 3)]
    deliver(adapter, *notices)
    feed = parse(tmp_path / "feeds/hall.rss")
    assert [e.id for e in feed.entries] == [
        ctx_for(make_notice(n)).idempotency_key for n in (5, 4, 3)
    ]
    state = json.loads((tmp_path / "feeds/hall.rss.items.json").read_text(encoding="utf-8"))
    assert [i["notice_id"] for i in state["items"]] == [
        "HYZB-2016-005",
        "HYZB-2016-004",
        "HYZB-2016-003",
    ]


# --- geometry and encodings ----------------------------------------------------------


@pytest.mark.parametrize(("columns", "lines"), [(64, 4), (32, 2), (10, 3)])
def test_item_text_fits_the_screen_geometry(tmp_path: Path, columns: int, lines: int) -> None:
    summary = (
        "河源市2016年第3批次国有建设用地使用权HY2016-12号地块挂牌出让,起始价3850万元,面积12.5公顷"
    )
    notice = make_notice(
        1,
        category="land_mineral",
        notice_type="transfer",
        summary=summary,
        land_mineral={
            "method": "listing",
            "parcels": [
                {
                    "parcel_no": "HY2016-12",
                    "location": "河源市源城区",
                    "area_m2": "125000",
                    "use": "商住",
                    "term_years": 70,
                    "start_price": {"value": "3850", "unit": "万元"},
                    "increment": {"value": "10", "unit": "万元"},
                    "deposit": {"value": "770", "unit": "万元"},
                }
            ],
        },
    )
    adapter = make_adapter(tmp_path, screen(tmp_path, columns=columns, lines=lines))
    deliver(adapter, notice)
    for name in ("hall.rss", "hall.atom"):
        [entry] = parse(tmp_path / "feeds" / name).entries
        shown = entry_lines(entry)
        assert 1 <= len(shown) <= lines
        assert all(0 < wcswidth(line) <= columns for line in shown), shown
        assert shown[0].startswith("【土地】")
        joined = "".join(shown)
        if joined.endswith(ELLIPSIS):
            assert len(shown) == lines
            joined = joined[: -len(ELLIPSIS)]
        assert ("【土地】" + summary).replace(" ", "").startswith(joined)
    if (columns, lines) == (64, 4):
        assert joined == "【土地】" + summary  # the whole text fits a 64 × 4 screen


def test_gbk_feed_declares_gbk_and_decodes_to_the_same_text(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, columns=64, lines=4, encoding="gbk"))
    notice = make_notice(1, summary="镕·河源市——公共资源交易中心①号厅开标,面积120㎡")
    deliver(adapter, notice)
    for name in ("hall.rss", "hall.atom"):
        raw = (tmp_path / "feeds" / name).read_bytes()
        assert raw.startswith(b"<?xml version='1.0' encoding='GBK'?>")
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert "镕·河源市——公共资源交易中心".encode("gbk") in raw
        [entry] = parse(tmp_path / "feeds" / name).entries
        assert entry_lines(entry) == ["【招标】" + (notice.summary or "")]


def test_gb2312_screen_refuses_a_gbk_only_character(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, encoding="gb2312"))
    notice = make_notice(1, summary="朱镕基路段施工")
    with pytest.raises(PermanentDeliveryError, match="U\\+9555") as err:
        adapter.render(notice, ctx_for(notice))
    assert "'hall'" in err.value.message
    assert "gb2312" in err.value.message


@pytest.mark.parametrize("char", ["𠀀", "😀"])
def test_character_gbk_lacks_is_a_permanent_error_naming_it(tmp_path: Path, char: str) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, encoding="gbk"))
    notice = make_notice(1, summary=f"中标人张{char}明")
    with pytest.raises(PermanentDeliveryError) as err:
        adapter.render(notice, ctx_for(notice))
    message = err.value.message
    assert repr(char) in message
    assert f"U+{ord(char):04X}" in message
    assert "screen 'hall'" in message
    assert "replacement" in message
    assert not (tmp_path / "feeds").exists()


def test_replacement_character_stands_in_for_what_gbk_lacks(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, encoding="gbk", replacement="?"))
    notice = make_notice(1, summary="中标人张𠀀明😀")
    [receipt] = deliver(adapter, notice)
    assert receipt.status == "written"
    raw = (tmp_path / "feeds/hall.rss").read_bytes()
    assert b"&#" not in raw  # no character reference sneaks the character in
    [entry] = parse(tmp_path / "feeds/hall.rss").entries
    assert entry_lines(entry) == ["【招标】中标人张?明?"]


def test_script_in_the_summary_is_escaped_in_the_raw_xml(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, screen(tmp_path, columns=200, lines=2))
    notice = make_notice(1, summary="开标<script>alert(1)</script>&结束")
    deliver(adapter, notice)
    for name in ("hall.rss", "hall.atom"):
        raw = (tmp_path / "feeds" / name).read_bytes()
        assert b"<script" not in raw
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&amp;结束".encode() in raw
    [entry] = parse(tmp_path / "feeds/hall.atom").entries
    assert entry_lines(entry) == ["【招标】开标<script>alert(1)</script>&结束"]


# --- render, receipt, describe ----------------------------------------------------------


def test_render_is_pure_and_shows_each_screen(tmp_path: Path) -> None:
    adapter = make_adapter(
        tmp_path,
        screen(tmp_path, columns=64, lines=4, encoding="gbk"),
        screen(tmp_path, name="gate", columns=32, lines=2, format="rss", path="feeds/gate.xml"),
    )
    notice = make_notice(1)
    payload = adapter.render(notice, ctx_for(notice))
    assert list(tmp_path.iterdir()) == []
    assert set(payload.parts) == {"hall.txt", "gate.txt"}
    key = ctx_for(notice).idempotency_key
    gate = payload.parts["gate.txt"].decode("utf-8").split("\n")
    assert gate[:2] == [f"item {key}", "screen gate (32×2, utf-8, rss)"]
    assert gate[3:5] == fit_text("【招标】" + (notice.summary or ""), 32, 2)
    assert "screen hall (64×4, gbk, rss+atom)" in payload.preview()
    assert payload.digest() == adapter.render(notice, ctx_for(notice)).digest()

    [receipt] = deliver(adapter, notice)
    assert receipt.remote_id == key
    assert receipt.url == (tmp_path / "feeds/hall.rss").as_uri()
    assert receipt.detail is not None
    assert "gate: written, 1 items, " + (tmp_path / "feeds/gate.xml").as_uri() in receipt.detail
    assert adapter.describe() == "feed → " + ", ".join(
        str(tmp_path / p) for p in ("feeds/hall.rss", "feeds/hall.atom", "feeds/gate.xml")
    )


def test_unreadable_item_file_is_a_permanent_error(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path)
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds/hall.rss.items.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(PermanentDeliveryError, match=r"hall\.rss\.items\.json is unreadable"):
        deliver(adapter, make_notice(1))


# --- concurrency ------------------------------------------------------------------------


def test_twenty_concurrent_sends_leave_all_twenty_items(tmp_path: Path) -> None:
    # two adapter instances on one path: two workers of one host
    adapters = [make_adapter(tmp_path), make_adapter(tmp_path)]
    notices = [make_notice(n) for n in range(1, 21)]
    payloads = [
        (adapters[n % 2], adapters[n % 2].render(x, ctx_for(x)), ctx_for(x))
        for n, x in enumerate(notices)
    ]
    barrier = threading.Barrier(len(payloads))
    errors: list[BaseException] = []

    def send(adapter: LedFeedAdapter, payload: Any, ctx: DeliveryContext) -> None:
        barrier.wait()
        try:
            adapter.send_blocking(payload, ctx)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=p) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = sorted(ctx_for(n).idempotency_key for n in notices)
    assert sorted(e.id for e in parse(tmp_path / "feeds/hall.rss").entries) == expected
    atom = parse(tmp_path / "feeds/hall.atom").entries
    assert sorted(e.id.removeprefix("urn:syndicate:") for e in atom) == expected


def test_concurrent_sends_through_the_async_interface(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path)
    notices = [make_notice(n) for n in range(1, 21)]

    async def run() -> list[Receipt]:
        try:
            return await asyncio.gather(
                *(adapter.send(adapter.render(n, ctx_for(n)), ctx_for(n)) for n in notices)
            )
        finally:
            await adapter.aclose()

    receipts = asyncio.run(run())
    assert {r.status for r in receipts} == {"written"}
    assert len(parse(tmp_path / "feeds/hall.rss").entries) == 20


def _send_from_another_process(base: str, numbers: list[int], barrier: Any) -> None:
    adapter = make_adapter(Path(base))
    prepared = [(adapter.render(n, ctx_for(n)), ctx_for(n)) for n in map(make_notice, numbers)]
    barrier.wait(timeout=60)
    for payload, ctx in prepared:
        adapter.send_blocking(payload, ctx)


def test_workers_in_separate_processes_share_one_feed(tmp_path: Path) -> None:
    # the in-process lock cannot see another process: this is the fcntl lock's job
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    workers = [
        spawn.Process(
            target=_send_from_another_process, args=(str(tmp_path), list(numbers), barrier)
        )
        for numbers in (range(1, 11), range(11, 21))
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=90)
    assert [w.exitcode for w in workers] == [0, 0]
    ids = sorted(e.id for e in parse(tmp_path / "feeds/hall.rss").entries)
    assert ids == sorted(ctx_for(make_notice(n)).idempotency_key for n in range(1, 21))


# --- upload to an SFTP server ---------------------------------------------------------------


def sftp_block(server: SshServer, key: KeyPair, directory: Path, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.user,
        "private_key": key.private_pem,
        "host_key": server.host_key.fingerprint,
        "directory": str(directory),
        "connect_timeout": "5s",
    }
    data.update(over)
    return data


def two_screens(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    hall = screen(tmp_path, columns=64, lines=4, encoding="gbk")
    gate = screen(tmp_path, name="gate", columns=32, lines=2, format="rss", path="feeds/gate.xml")
    return hall, gate


def test_feeds_are_uploaded_over_one_sftp_connection(
    tmp_path: Path, sshd: SshServer, ssh_client_key: KeyPair
) -> None:
    remote = tmp_path / "remote" / "led"
    remote.mkdir(parents=True)
    adapter = make_adapter(
        tmp_path, *two_screens(tmp_path), sftp=sftp_block(sshd, ssh_client_key, remote)
    )
    notices = [make_notice(n) for n in (1, 2, 3)]
    receipts = deliver(adapter, *notices)

    assert sorted(p.name for p in remote.iterdir()) == ["gate.xml", "hall.atom", "hall.rss"]
    for name, local in (
        ("hall.rss", "hall.rss"),
        ("hall.atom", "hall.atom"),
        ("gate.xml", "gate.xml"),
    ):
        assert (remote / name).read_bytes() == (tmp_path / "feeds" / local).read_bytes()
        assert len(parse(remote / name).entries) == 3
    assert sshd.logins() == 1  # one connection carried every upload
    detail = receipts[-1].detail or ""
    assert f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}/gate.xml" in detail
    assert receipts[-1].url == (tmp_path / "feeds/hall.rss").as_uri()
    assert adapter.describe().endswith(f" + sftp://{sshd.user}@127.0.0.1:{sshd.port}{remote}")
    for text in (adapter.describe(), detail, repr(adapter.options)):
        assert "PRIVATE KEY" not in text


def test_unreachable_server_is_transient_and_the_next_send_catches_up(
    tmp_path: Path, sshd: SshServer, ssh_client_key: KeyPair
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    block = sftp_block(sshd, ssh_client_key, remote)
    first, second = make_notice(1), make_notice(2)
    deliver(make_adapter(tmp_path, sftp=block), first)
    sshd.stop()
    with pytest.raises(TransientDeliveryError):
        deliver(make_adapter(tmp_path, sftp=block), second)
    sshd.start()
    deliver(make_adapter(tmp_path, sftp=block), second)  # the retry
    ids = sorted(e.id for e in parse(remote / "hall.rss").entries)
    assert ids == sorted(ctx_for(n).idempotency_key for n in (first, second))


def test_wrong_pinned_host_key_sends_nothing(
    tmp_path: Path, sshd: SshServer, ssh_client_key: KeyPair
) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    block = sftp_block(sshd, ssh_client_key, remote, host_key="SHA256:" + "A" * 43)
    with pytest.raises(PermanentDeliveryError, match="host key") as err:
        deliver(make_adapter(tmp_path, sftp=block), make_notice(1))
    assert err.value.status == "host-key"
    assert list(remote.iterdir()) == []
    assert sshd.logins() == 0


def test_uploaded_feed_names_must_differ(tmp_path: Path, ssh_client_key: KeyPair) -> None:
    hall = screen(tmp_path, format="rss", path="a/feed.xml")
    gate = screen(tmp_path, name="gate", format="rss", path="b/feed.xml")
    block = {
        "host": "127.0.0.1",
        "username": "led",
        "private_key": ssh_client_key.private_pem,
        "host_key": "SHA256:" + "A" * 43,
        "directory": "/led",
    }
    LedFeedOptions.model_validate({"screens": [hall, gate]}, context={"base_dir": tmp_path})
    with pytest.raises(ValidationError, match="feed file names must differ"):
        LedFeedOptions.model_validate(
            {"screens": [hall, gate], "sftp": block}, context={"base_dir": tmp_path}
        )


# --- options ---------------------------------------------------------------------------------


def test_screens_as_a_mapping_and_paths_relative_to_the_config(tmp_path: Path) -> None:
    options = LedFeedOptions.model_validate(
        {
            "screens": {
                "hall": {
                    "columns": 64,
                    "lines": 4,
                    "encoding": "GBK",
                    "path": "led/hall.xml",
                    "link": LINK,
                },
                "gate": {"columns": 32, "lines": 2, "path": "led/gate.xml", "link": LINK},
            }
        },
        context={"base_dir": tmp_path},
    )
    hall, gate = options.screens
    assert (hall.name, hall.encoding, hall.files) == ("hall", "gbk", [tmp_path / "led/hall.xml"])
    assert gate.state_path == tmp_path / "led/gate.xml.items.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "feeds/one.xml"}, "with two formats give path as"),
        ({"path": {"rss": "a.xml"}}, "path must name a file for each format"),
        ({"encoding": "gbk", "title": "大厅😀"}, "title: '😀'"),
        ({"encoding": "gbk", "replacement": "😀"}, "replacement: '😀'"),
        ({"replacement": " "}, "one visible character"),
        ({"columns": 2}, "greater than or equal to 4"),
        ({"encoding": "big5"}, "'utf-8', 'gbk' or 'gb2312'"),
        ({"color": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_screen_options_are_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        LedFeedOptions.model_validate(
            {"screens": [screen(tmp_path, **change)]}, context={"base_dir": tmp_path}
        )


def test_two_screens_may_not_share_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="same feed file"):
        LedFeedOptions.model_validate(
            {"screens": [screen(tmp_path), screen(tmp_path, name="gate")]},
            context={"base_dir": tmp_path},
        )
