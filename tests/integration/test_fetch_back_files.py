"""Fetch-back of what a file drop and a feed hold: real sshd, real feed files, changed or removed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syndicate import Syndicator
from syndicate.audit.fetchback import CheckResult, FetchCheck
from syndicate.store.base import idempotency_key

from .test_led_feed import Clock, deliver, make_adapter, make_notice, screen

if TYPE_CHECKING:
    from tests.peers.sshd import KeyPair, SshServer

pytestmark = pytest.mark.integration


def sftp_config(tmp_path: Path, sshd: SshServer, key: KeyPair, inbox: Path) -> str:
    key_file = tmp_path / "id_ed25519"
    key_file.write_text(key.private_pem, encoding="ascii")
    key_file.chmod(0o600)
    return f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s, lease: 30s}}
defaults: {{timeout: 10s, retry: {{max_attempts: 1}}}}
channels:
  paper:
    adapter: sftp_inbox
    host: 127.0.0.1
    port: {sshd.port}
    username: {sshd.user}
    host_key: {sshd.host_key.fingerprint}
    private_key_file: {key_file}
    directory: {inbox}
    connect_timeout: 5s
routes:
  - channels: [paper]
"""


def test_sftp_files_verified_then_edited_resized_partly_gone_gone_unreachable(
    tmp_path: Path,
    sshd: SshServer,
    ssh_client_key: KeyPair,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with Syndicator.from_config(
        write_config(sftp_config(tmp_path, sshd, ssh_client_key, inbox))
    ) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=30)
        main = inbox / "HYZB-2026-0001.v1.txt"
        manifest = inbox / "HYZB-2026-0001.v1.manifest.json"
        sent = main.read_bytes()

        (check,) = s.fetch_back()
        assert check.result is CheckResult.verified, check.detail
        assert check.detail.startswith("2 parts as sent")

        # Same size, one character changed: only the hash can tell.
        main.write_bytes(sent.replace("招标".encode(), "投标".encode(), 1))
        assert main.read_bytes() != sent
        (check,) = s.fetch_back()
        assert check.result is CheckResult.mismatch
        assert re.search(
            rf"{main}: content differs \(sha256 \w{{12}}…, sent \w{{12}}…\)", check.detail
        )
        assert "manifest" not in check.detail

        main.write_bytes(sent + b"\n")
        (check,) = s.fetch_back()
        assert check.result is CheckResult.mismatch
        assert f"{main}: {len(sent) + 1} bytes, {len(sent)} sent" in check.detail

        main.write_bytes(sent)
        manifest.unlink()
        (check,) = s.fetch_back()
        assert check.result is CheckResult.mismatch
        assert check.detail == "HYZB-2026-0001.v1.manifest.json: gone"

        main.unlink()
        (check,) = s.fetch_back()
        assert check.result is CheckResult.missing
        assert check.result.alert

        sshd.stop()
        (check,) = s.fetch_back()
        assert check.result is CheckResult.unreachable
        assert "127.0.0.1" in check.detail

        results = [
            link.content()["check"]["result"] for link in s.store.chain_links_of("check", 0, 100)
        ]
        assert results == ["verified", "mismatch", "mismatch", "mismatch", "missing", "unreachable"]
        assert s.verify().ok


def led_config(tmp_path: Path, extra: str = "") -> str:
    return f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s, lease: 30s}}
defaults: {{timeout: 10s, retry: {{max_attempts: 1}}}}
channels:
  screens:
    adapter: led_feed
{extra}
    screens:
      - name: hall
        columns: 32
        lines: 2
        format: both
        path: {{rss: {tmp_path}/feeds/hall.rss, atom: {tmp_path}/feeds/hall.atom}}
        link: https://ggzy.heyuan.gov.cn/
routes:
  - channels: [screens]
"""


def test_a_body_the_sanitiser_changed_is_read_back_part_by_part(
    tmp_path: Path,
    sshd: SshServer,
    ssh_client_key: KeyPair,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    # What the channel was sent is the sanitised body; rendered again from the stored one,
    # every part would differ and only the whole payload's hash could be compared.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    body = '<p onclick="steal()">东环路改造工程施工招标。</p><script>alert(1)</script>'
    html = sftp_config(tmp_path, sshd, ssh_client_key, inbox).replace(
        "    connect_timeout: 5s", "    connect_timeout: 5s\n    format: html"
    )
    with Syndicator.from_config(write_config(html)) as s:
        s.enqueue(make_notice(body_html=body))
        assert s.drain(timeout=30)
        (check,) = s.fetch_back()
    assert check.result is CheckResult.verified, check.detail
    assert check.detail.startswith("2 parts as sent, size and sha256"), check.detail


def test_led_item_verified_then_edited_then_gone_from_one_feed_then_from_all(
    tmp_path: Path,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    rss, atom = tmp_path / "feeds/hall.rss", tmp_path / "feeds/hall.atom"
    with Syndicator.from_config(write_config(led_config(tmp_path))) as s:
        s.enqueue(make_notice(summary="东江大桥维修加固工程施工招标"))
        assert s.drain(timeout=30)
        (check,) = s.fetch_back()
        assert check.result is CheckResult.verified, check.detail
        assert "in 2 places" in check.detail

        original = rss.read_text(encoding="utf-8")
        assert "东江大桥" in original
        rss.write_text(original.replace("东江大桥", "西江大桥"), encoding="utf-8")
        (check,) = s.fetch_back()
        assert check.result is CheckResult.mismatch
        assert check.detail.startswith(f"{rss.as_uri()}: content differs")
        assert atom.as_uri() not in check.detail

        rss.write_text(original, encoding="utf-8")
        atom.write_text(re.sub(r"<entry>.*</entry>", "", atom.read_text("utf-8"), flags=re.S))
        (check,) = s.fetch_back()
        assert check.result is CheckResult.mismatch
        assert check.detail == f"{atom.as_uri()}: gone"

        rss.unlink()
        (check,) = s.fetch_back()
        assert check.result is CheckResult.missing
        assert s.verify().ok


def test_an_expired_item_that_left_the_feed_is_taken_down_not_missing(tmp_path: Path) -> None:
    from syndicate.adapter import Landed, TakenDown

    clock = Clock()
    adapter = make_adapter(tmp_path, screen(tmp_path), now=clock)
    first = make_notice(1, valid_until=(clock.value + timedelta(days=1)).isoformat())
    later = make_notice(2, valid_until=(clock.value + timedelta(days=30)).isoformat())
    deliver(adapter, first)
    clock.value += timedelta(days=2)
    deliver(adapter, later)  # the next write drops the expired item

    ctx_key = idempotency_key(first.id, first.version, "led")
    from syndicate.adapter import DeliveryContext

    found = asyncio.run(
        adapter.read_back(first, DeliveryContext("led", ctx_key), Landed(None, None))
    )
    assert isinstance(found, TakenDown)
    assert "expired" in found.reason


def test_the_worker_runs_due_checks_and_tells_the_listener(
    tmp_path: Path,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    rss = tmp_path / "feeds/hall.rss"
    heard: list[FetchCheck] = []
    with Syndicator.from_config(write_config(led_config(tmp_path, "    fetch_back: 100ms"))) as s:
        s.on_fetch_back(heard.append)

        async def run_until(done: Callable[[], bool]) -> None:
            stop = asyncio.Event()
            worker = asyncio.create_task(s.run_async(stop=stop))
            deadline = time.monotonic() + 30
            while not done() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            stop.set()
            await worker

        s.enqueue(make_notice(summary="东江大桥维修加固工程施工招标"))
        asyncio.run(run_until(lambda: any(c.result is CheckResult.verified for c in heard)))
        assert heard
        assert heard[0].result is CheckResult.verified, heard

        rss.write_text(rss.read_text("utf-8").replace("东江大桥", "西江大桥"), encoding="utf-8")
        asyncio.run(run_until(lambda: heard[-1].result is CheckResult.mismatch))
        assert heard[-1].result.alert
        assert heard[-1].channel == "screens"
        recorded = [
            link.content()["check"]["result"] for link in s.store.chain_links_of("check", 0, 1000)
        ]
        assert recorded == [c.result.value for c in heard]


def test_led_feed_copies_uploaded_over_sftp_are_read_back_too(
    tmp_path: Path, sshd: SshServer, ssh_client_key: KeyPair
) -> None:
    from syndicate.adapter import DeliveryContext, HeldPart, Landed

    from .test_led_feed import sftp_block

    remote = tmp_path / "remote"
    remote.mkdir()
    adapter = make_adapter(
        tmp_path, screen(tmp_path), sftp=sftp_block(sshd, ssh_client_key, remote)
    )
    notice = make_notice(1)
    deliver(adapter, notice)
    (remote / "hall.atom").write_text(
        (remote / "hall.atom").read_text("utf-8").replace("河源市", "某某市"), encoding="utf-8"
    )
    ctx = DeliveryContext("led", idempotency_key(notice.id, notice.version, "led"))

    async def read() -> Any:
        try:
            return await adapter.read_back(notice, ctx, Landed(None, None))
        finally:
            await adapter.aclose()

    held = asyncio.run(read())
    assert all(isinstance(h, HeldPart) for h in held)
    assert len(held) == 4  # rss and atom, here and on the server
    by_place = {h.where.rsplit("/", 2)[-2] + "/" + h.where.rsplit("/", 1)[-1]: h for h in held}
    assert by_place["feeds/hall.rss"].content == by_place["remote/hall.rss"].content
    assert by_place["feeds/hall.atom"].content == by_place["feeds/hall.rss"].content
    assert by_place["remote/hall.atom"].content != by_place["feeds/hall.atom"].content
