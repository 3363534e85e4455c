"""email_inbox against a real mail server: Postfix 3.7 on loopback, SASL through Dovecot.

What arrives is read back from the mailbox's Maildir, as the newspaper's
mail client would find it.
"""

from __future__ import annotations

import asyncio
import email.header
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from syndicate_adapters.email_inbox import EmailInboxAdapter, EmailInboxOptions, html_to_text

from syndicate import Syndicator
from syndicate.adapter import DeliveryContext, Receipt
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.store.base import AttemptFilter, DeliveryState
from tests.peers.postfix import BUSY, CERT, SASL_PASSWORD, SASL_USER, MailServer

# The machine has one Postfix: under pytest-xdist these tests share a worker (tests/conftest.py,
# ONE_WORKER), so only one process ever configures it.
pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n% tender documents\n" + bytes(range(256)) * 16
SHEET = "工程量清单（第二版）.xlsx".encode() * 100
PDF_NAME = "河源市东环路改造工程施工招标文件（含补充说明）.pdf"
SHEET_NAME = "工程量清单（第二版）.xlsx"
TITLE = "河源市东环路改造工程施工招标公告"


@pytest.fixture
def notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Notice]:
    """A notice with two attachment files (Chinese names) in the current folder."""
    files = tmp_path / "attachments"
    files.mkdir()
    monkeypatch.chdir(files)
    (files / "tender.pdf").write_bytes(PDF)
    (files / "sheet.xlsx").write_bytes(SHEET)

    def make(notice_id: str, **changes: Any) -> Notice:
        data: dict[str, Any] = {
            "id": notice_id,
            "version": 1,
            "category": "construction",
            "notice_type": "tender",
            "project_code": "HYZB2026-001",
            "title": TITLE,
            "body_html": "<p>一、招标条件</p><p>本项目已由河源市发展和改革局批准建设。</p>",
            "region_code": "441600",
            "publisher": {"name": "河源市公共资源交易中心"},
            "publish_at": "2026-11-20T09:00:00+08:00",
            "attachments": [
                {
                    "name": PDF_NAME,
                    "sha256": hashlib.sha256(PDF).hexdigest(),
                    "media_type": "application/pdf",
                    "path": "tender.pdf",
                },
                {
                    "name": SHEET_NAME,
                    "sha256": hashlib.sha256(SHEET).hexdigest(),
                    "media_type": "application/vnd.openxmlformats-officedocument"
                    ".spreadsheetml.sheet",
                    "path": "sheet.xlsx",
                },
            ],
        }
        return Notice.parse(data | changes)

    return make


def mailer(server: MailServer, **options: Any) -> EmailInboxAdapter:
    base: dict[str, Any] = {
        "host": server.host,
        "port": server.plain_port,
        "security": "none",
        "from_address": "fabu@ggzy.heyuan.example",
        "from_name": "河源市公共资源交易中心",
        "to": [server.address("hywb")],
        "socket_timeout": "20s",
    }
    return EmailInboxAdapter("hywb_mail", EmailInboxOptions.model_validate(base | options))


def submission(server: MailServer, **options: Any) -> EmailInboxAdapter:
    settings: dict[str, Any] = {
        "port": server.submission_port,
        "security": "starttls",
        "username": SASL_USER,
        "password": SASL_PASSWORD,
        "ca_file": str(CERT),
        "tls_server_name": server.server_name,
    }
    return mailer(server, **(settings | options))


def deliver(adapter: EmailInboxAdapter, notice: Notice) -> Receipt:
    ctx = DeliveryContext(adapter.channel, f"{notice.key}.{adapter.channel}")

    async def go() -> Receipt:
        try:
            return await adapter.send(adapter.render(notice, ctx), ctx)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def queue_id(receipt: Receipt) -> str:
    match = re.fullmatch(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)", str(receipt.status))
    assert match, receipt.status
    return match[1]


def test_plain_smtp_on_25_delivers_the_whole_notice(
    postfix: MailServer, notice: Callable[..., Notice]
) -> None:
    sent = notice("PF-PLAIN-1")
    receipt = deliver(mailer(postfix), sent)

    message = postfix.wait_for("hywb", "<PF-PLAIN-1.v1.hywb_mail@syndicate>")
    assert receipt.remote_id == "<PF-PLAIN-1.v1.hywb_mail@syndicate>"
    assert str(message["Subject"]) == f"【工程建设】{TITLE}"
    assert str(message["From"]) == "河源市公共资源交易中心 <fabu@ggzy.heyuan.example>"
    assert message["From"].addresses[0].display_name == "河源市公共资源交易中心"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert TITLE in text.get_content()
    assert html_to_text(sent.body_html) in text.get_content().replace("\r\n", "\n")
    assert "本项目已由河源市发展和改革局批准建设。" in html.get_content()
    attached = {a.get_filename(): a.get_content() for a in message.iter_attachments()}
    assert {name: hashlib.sha256(data).hexdigest() for name, data in attached.items()} == {
        a.name: a.sha256 for a in sent.attachments
    }
    # The queue id in the ledger finds the mail in the server's log.
    assert f"{queue_id(receipt)}: message-id=<PF-PLAIN-1.v1.hywb_mail@syndicate>" in (
        postfix.log_path.read_text(encoding="utf-8", errors="replace")
    )


def test_attachment_names_arrive_in_both_forms_chinese_clients_read(
    postfix: MailServer, notice: Callable[..., Notice]
) -> None:
    deliver(mailer(postfix), notice("PF-NAMES-1"))
    message = postfix.wait_for("hywb", "<PF-NAMES-1.v1.hywb_mail@syndicate>")
    for part in message.iter_attachments():
        source = part.as_string()
        # RFC 2231, what standard clients read first ...
        assert "filename*0*=utf-8''" in source
        # ... and RFC 2047 words inside the quoted name, what Outlook and Foxmail read.
        for header in ("Content-Type", "Content-Disposition"):
            raw = _raw(source, header)
            quoted = re.search(r'(?:file)?name="([^"]*)"', raw)
            assert quoted, raw
            words = email.header.decode_header(" ".join(quoted[1].split()))
            assert str(email.header.make_header(words)) in (PDF_NAME, SHEET_NAME)
    assert {p.get_filename() for p in message.iter_attachments()} == {PDF_NAME, SHEET_NAME}


def _raw(source: str, header: str) -> str:
    """One header of a part's source, unfolded lines kept as they came."""
    match = re.search(rf"^{header}:(.*?)(?=^\S)", source, re.M | re.S)
    assert match, f"no {header} in {source[:500]}"
    return match[1]


def test_starttls_and_sasl_on_587_verify_the_named_certificate(
    postfix: MailServer, notice: Callable[..., Notice]
) -> None:
    receipt = deliver(submission(postfix), notice("PF-SUBMIT-1"))
    message = postfix.wait_for("hywb", "<PF-SUBMIT-1.v1.hywb_mail@syndicate>")
    assert str(message["Subject"]) == f"【工程建设】{TITLE}"
    queue_id(receipt)
    assert "sasl_method=PLAIN, sasl_username=hywb-submit" in postfix.log_path.read_text(
        encoding="utf-8", errors="replace"
    )


def test_without_tls_server_name_the_address_does_not_match_the_certificate(
    postfix: MailServer, notice: Callable[..., Notice]
) -> None:
    adapter = mailer(
        postfix,
        port=postfix.submission_port,
        security="starttls",
        username=SASL_USER,
        password=SASL_PASSWORD,
        ca_file=str(CERT),
    )
    with pytest.raises(PermanentDeliveryError, match="certificate"):
        deliver(adapter, notice("PF-NONAME-1"))


def test_a_wrong_sasl_password_is_permanent_and_not_quoted(
    postfix: MailServer, notice: Callable[..., Notice]
) -> None:
    adapter = submission(postfix, password="not-the-Pa55word")
    with pytest.raises(PermanentDeliveryError, match="refused the credentials") as caught:
        deliver(adapter, notice("PF-BADPW-1"))
    assert "not-the-Pa55word" not in caught.value.message


def test_a_full_mailbox_is_transient(postfix: MailServer, notice: Callable[..., Notice]) -> None:
    with pytest.raises(TransientDeliveryError, match="Mailbox full") as caught:
        deliver(mailer(postfix, to=[BUSY]), notice("PF-BUSY-1"))
    assert caught.value.status == "452"


def test_the_ledger_keeps_the_servers_acceptance_line(
    postfix: MailServer,
    notice: Callable[..., Notice],
    write_config: Callable[[str], Path],
) -> None:
    path = write_config(
        f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 120s, poll_interval: 20ms}}
attachments: {{root: {Path.cwd()}}}
channels:
  hywb_mail:
    adapter: email_inbox
    host: 127.0.0.1
    port: {postfix.submission_port}
    security: starttls
    tls_server_name: {postfix.server_name}
    ca_file: {CERT}
    username: {SASL_USER}
    password: "${{HYWB_SMTP_PASSWORD}}"
    from_address: fabu@ggzy.heyuan.example
    to: [{postfix.address("hywb")}]
routes:
  - channels: [hywb_mail]
"""
    )
    with Syndicator.from_config(path, env={"HYWB_SMTP_PASSWORD": SASL_PASSWORD}) as s:
        s.enqueue(notice("PF-LEDGER-1"))
        assert s.drain(timeout=60)
        (delivery,) = s.store.deliveries()
        (attempt,) = s.store.attempts(AttemptFilter())
    assert delivery.state is DeliveryState.delivered, delivery.last_error
    postfix.wait_for("hywb", "<PF-LEDGER-1.v1.hywb_mail@syndicate>")
    assert re.fullmatch(r"250 2\.0\.0 Ok: queued as [0-9A-F]+", str(attempt.status))
