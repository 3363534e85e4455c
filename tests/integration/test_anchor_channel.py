"""The chain's head sent through a channel (mail to the 纪检 office, an aiosmtpd peer), recorded,
and held against the chain by every later ``verify``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.audit.chain import Event, Head, extend
from syndicate.demo.http_sink import HttpSink
from syndicate.errors import ConfigError, DeliveryError
from tests.acceptance.test_cli import no_traceback, syndicate
from tests.integration.test_engine import http_config
from tests.peers.smtp import SmtpPeer

pytestmark = pytest.mark.integration


def anchor_config(url: str, smtp_port: int) -> str:
    mail = f"""
  jijian-mail:
    adapter: email_inbox
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    from_address: syndicate@ggzy.heyuan.gov.cn
    to: [jijian@heyuan.gov.cn]
    socket_timeout: 5s
    timeout: 10s"""
    audit = "audit: {anchor: {channel: jijian-mail, region_code: '441600', publisher: 交易中心}}\n"
    return http_config(url, extra=mail) + audit


def test_the_head_is_mailed_recorded_and_held_against_the_chain(
    sink: HttpSink,
    smtp_server: SmtpPeer,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    path = write_config(anchor_config(sink.url, smtp_server.port))
    with Syndicator.from_config(path) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        verification = s.verify()
        assert verification.ok  # type: ignore[union-attr]
        head = verification.head  # type: ignore[union-attr]
        sent = s.anchor_to_channel(head)
        assert (sent.seq, sent.hash, sent.channel) == (head.seq, head.hash, "jijian-mail")
        (anchor_link,) = s.store.chain_links_of("anchor", 0, 10)
        assert anchor_link.seq == head.seq + 1
        assert anchor_link.content()["anchor"]["hash"] == head.hash
        assert s.verify().ok  # type: ignore[union-attr]

    (mail,) = smtp_server.received
    assert "jijian@heyuan.gov.cn" in str(mail.message["To"])
    assert head.hash in str(mail.message["Subject"])
    text = str(mail.message.get_body(("plain", "html")).get_content())
    assert f"chain row 行号: {head.seq}" in text
    assert head.hash in text

    # Rewrite the ledger from row 2 on, every hash recomputed, the anchor link kept as it was:
    # the chain alone holds, the recorded anchor does not.
    db = sqlite3.connect(path.parent / "ledger.db", isolation_level=None)
    links = db.execute(
        "SELECT seq, at, kind, ref, delivery, body FROM chain ORDER BY seq"
    ).fetchall()
    db.executescript(
        "DROP TRIGGER chain_no_update; DROP TRIGGER chain_no_delete;"
        "DELETE FROM chain WHERE seq >= 2;"
    )
    (first_hash,) = db.execute("SELECT hash FROM chain WHERE seq = 1").fetchone()
    events = [
        Event(kind, ref, json.loads(body), at + (0.5 if seq == 2 else 0.0), delivery)
        for seq, at, kind, ref, delivery, body in links[1:]
    ]
    forged, new_head = extend(Head(1, first_hash), events)
    db.executemany(
        "INSERT INTO chain VALUES (:seq, :at, :kind, :ref, :delivery, :body, :body_sha256,"
        " :prev_hash, :hash)",
        [f.params() for f in forged],
    )
    db.execute("UPDATE chain_head SET hash = ? WHERE id = 1", (new_head.hash,))
    db.close()
    with Syndicator.from_config(path) as s:
        result = s.verify()
    (finding,) = result.findings  # type: ignore[union-attr]
    assert (finding.table, finding.change, finding.seq) == ("anchor", "edited", head.seq)
    assert "sent through channel jijian-mail" in finding.message
    assert "rewritten" in finding.message


def test_the_cli_sends_the_anchor_and_refuses_without_a_channel(
    sink: HttpSink,
    smtp_server: SmtpPeer,
    tmp_path: Path,
    closed_port: int,
    make_notice: Callable[..., dict[str, Any]],
) -> None:
    config = tmp_path / "channels.yaml"
    config.write_text(anchor_config(sink.url, smtp_server.port), encoding="utf-8")
    with Syndicator.from_config(config) as s:
        with pytest.raises(ConfigError, match="nothing to anchor"):
            s.anchor_to_channel(s.store.chain_head())
        s.enqueue(make_notice())
    result = syndicate("verify", "--anchor-channel", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "anchored through channel jijian-mail" in result.stdout
    assert len(smtp_server.received) == 1

    # The mail server is gone: a delivery error, and no anchor is recorded.
    config.write_text(anchor_config(sink.url, closed_port), encoding="utf-8")
    with Syndicator.from_config(config) as s:
        with pytest.raises(DeliveryError, match=r"127\.0\.0\.1"):
            s.anchor_to_channel(s.store.chain_head())
        assert len(s.store.chain_links_of("anchor", 0, 10)) == 1

    # Without an audit.anchor section it is refused, naming what is missing.
    config.write_text(http_config(sink.url), encoding="utf-8")
    with Syndicator.from_config(config) as s, pytest.raises(ConfigError, match=r"audit\.anchor"):
        s.anchor_to_channel(s.store.chain_head())
    assert len(smtp_server.received) == 1
