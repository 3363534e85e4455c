"""The email_inbox adapter against a real aiosmtpd on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from syndicate_adapters.email_inbox import EmailInboxAdapter, EmailInboxOptions

from syndicate.adapter import DeliveryContext, Receipt
from syndicate.config import parse_config
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.store.base import DeliveryState, EarlierDelivery, Purpose, Withdrawal
from syndicate.syndicator import build_adapter
from tests.peers.smtp import (
    SMTP_PASSWORD,
    SMTP_USER,
    SmtpPeer,
    smtp_server,
    smtp_ssl,
    smtp_starttls,
    smtp_tls_files,
)

__all__ = ["smtp_server", "smtp_ssl", "smtp_starttls", "smtp_tls_files"]

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n% tender documents\n" + bytes(range(256)) * 8
TITLE = "河源市源城区某道路改造工程施工招标公告"


@pytest.fixture(autouse=True)
def _attachments_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapters read attachments relative to the current folder unless configured."""
    monkeypatch.chdir(tmp_path)


def make_notice(tmp_path: Path, **changes: Any) -> Notice:
    attachment = tmp_path / "招标文件.pdf"
    attachment.write_bytes(PDF)
    data: dict[str, Any] = {
        "id": "HYZB-2016-0123",
        "version": 1,
        "category": "construction",
        "notice_type": "tender",
        "project_code": "HYZB2016-0123",
        "title": TITLE,
        "body_html": "<p>一、招标条件</p><p>本招标项目已由河源市发展和改革局批准建设。</p>",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": "2016-03-01T09:00:00+08:00",
        "attachments": [
            {
                "name": "招标文件.pdf",
                "sha256": hashlib.sha256(PDF).hexdigest(),
                "media_type": "application/pdf",
                "path": attachment.name,  # relative to the attachments folder: tmp_path
            },
            {
                "name": "工程量清单.xlsx",
                "sha256": "0" * 64,
                "url": "https://ggzy.heyuan.example/files/qd.xlsx",
            },
        ],
    }
    data.update(changes)
    return Notice.parse(data)


def ctx_for(notice: Notice, channel: str = "hywb_mail", attempt: int = 1) -> DeliveryContext:
    return DeliveryContext(
        channel=channel,
        idempotency_key=f"{notice.key}.{channel}",
        attempt=attempt,
        notice_digest=notice.digest(),
    )


class Adapters:
    """Builds adapters for a peer and closes them before the peer stops."""

    def __init__(self) -> None:
        self.made: list[EmailInboxAdapter] = []

    def __call__(self, peer: SmtpPeer, **options: Any) -> EmailInboxAdapter:
        base: dict[str, Any] = {
            "host": peer.host,
            "port": peer.port,
            "security": "none",
            "from_address": "fabu@ggzy.heyuan.example",
            "from_name": "河源市公共资源交易中心",
            "to": ["tougao@hywb.example"],
            "cc": ["archive@ggzy.heyuan.example"],
            "socket_timeout": "10s",
        }
        opts = EmailInboxOptions.model_validate(base | options, context={"base_dir": Path("/")})
        adapter = EmailInboxAdapter("hywb_mail", opts)
        self.made.append(adapter)
        return adapter

    def close(self) -> None:
        for adapter in self.made:
            asyncio.run(adapter.aclose())


@pytest.fixture
def adapters() -> Iterator[Adapters]:
    made = Adapters()
    yield made
    made.close()


def deliver(adapter: EmailInboxAdapter, notice: Notice, ctx: DeliveryContext) -> Receipt:
    return asyncio.run(adapter.send(adapter.render(notice, ctx), ctx))


def tls_options(peer: SmtpPeer, **extra: Any) -> dict[str, Any]:
    assert peer.tls_files is not None
    return {
        "security": "starttls",
        "username": SMTP_USER,
        "password": SMTP_PASSWORD,
        "ca_file": str(peer.tls_files.ca_file),
    } | extra


def test_notice_arrives_whole(smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path) -> None:
    notice = make_notice(tmp_path)
    ctx = ctx_for(notice)
    receipt = deliver(adapters(smtp_server), notice, ctx)

    [got] = smtp_server.received
    msg = got.message
    assert got.mail_from == "fabu@ggzy.heyuan.example"
    assert got.rcpt_tos == ["tougao@hywb.example", "archive@ggzy.heyuan.example"]
    assert msg["Subject"] == f"【工程建设】{TITLE}"
    assert msg["From"].addresses[0].display_name == "河源市公共资源交易中心"
    assert msg["Message-ID"] == "<HYZB-2016-0123.v1.hywb_mail@syndicate>"
    assert msg["Date"] == "Tue, 01 Mar 2016 09:00:00 +0800"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "本招标项目已由河源市发展和改革局批准建设。" in text.get_content()
    assert "项目编号：HYZB2016-0123" in text.get_content()
    assert "工程量清单.xlsx  https://ggzy.heyuan.example/files/qd.xlsx" in text.get_content()
    assert "<p>本招标项目已由河源市发展和改革局批准建设。</p>" in html.get_content()
    [attached] = list(msg.iter_attachments())
    assert attached.get_filename() == "招标文件.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_content() == PDF
    # The raw source is ASCII: no 8BITMIME or SMTPUTF8 needed anywhere on the way.
    assert got.data.isascii()

    assert receipt == Receipt(
        remote_id="<HYZB-2016-0123.v1.hywb_mail@syndicate>",
        status="250 2.0.0 Ok: queued as HY00001",
        detail="2.0.0 Ok: queued as HY00001",
    )


def test_451_then_success_sends_the_same_message(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    adapter = adapters(smtp_server)
    smtp_server.script.data_replies.append("451 4.3.0 try later")

    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter, notice, ctx_for(notice, attempt=1))
    assert caught.value.status == "451"
    assert "try later" in caught.value.message

    receipt = deliver(adapter, notice, ctx_for(notice, attempt=2))
    assert str(receipt.status).startswith("250 ")

    first, second = smtp_server.received
    assert first.reply.startswith("451")
    assert first.message_id == second.message_id == receipt.remote_id
    assert first.data == second.data


def test_550_is_permanent(smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path) -> None:
    notice = make_notice(tmp_path)
    smtp_server.script.data_replies.append("550 5.7.1 message content rejected")
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapters(smtp_server), notice, ctx_for(notice))
    assert caught.value.status == "550"
    assert "content rejected" in caught.value.message


def test_421_on_ehlo_is_transient_then_reconnects(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    adapter = adapters(smtp_server)
    smtp_server.script.ehlo.append("421 4.3.2 service shutting down")
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter, notice, ctx_for(notice))
    assert caught.value.status == "421"
    assert smtp_server.received == []

    assert str(deliver(adapter, notice, ctx_for(notice, attempt=2)).status).startswith("250 ")
    assert len(smtp_server.received) == 1


def test_421_greeting_is_transient(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    smtp_server.script.greeting.append("421 4.7.0 too many connections, try later")
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapters(smtp_server), notice, ctx_for(notice))
    assert caught.value.status == "421"
    assert "too many connections" in caught.value.message


def test_connection_dropped_after_data_is_transient(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    adapter = adapters(smtp_server)
    smtp_server.script.drop_after_data = 1
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter, notice, ctx_for(notice))
    assert "closed the connection" in caught.value.message
    assert "Message-ID" in caught.value.message

    receipt = deliver(adapter, notice, ctx_for(notice, attempt=2))
    dropped, accepted = smtp_server.received
    assert dropped.reply == "(dropped)"
    assert dropped.message_id == accepted.message_id == receipt.remote_id
    assert smtp_server.handler.sessions == 2


def test_connection_is_reused_and_renewed(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    adapter = adapters(smtp_server)
    one = make_notice(tmp_path)
    two = make_notice(tmp_path, id="HYZB-2016-0124", project_code="HYZB2016-0124")
    deliver(adapter, one, ctx_for(one))
    deliver(adapter, two, ctx_for(two))
    assert smtp_server.handler.sessions == 1

    # The server hangs up an idle connection; NOOP notices and we dial again.
    smtp_server.disconnect_all()
    deliver(adapter, one, ctx_for(one, attempt=2))
    assert smtp_server.handler.sessions == 2
    assert len(smtp_server.received) == 3


def test_concurrent_sends_all_arrive(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    adapter = adapters(smtp_server)
    notices = [
        make_notice(tmp_path, id=f"HYCG-2016-{i:04d}", project_code=f"HYCG2016-{i:04d}")
        for i in range(6)
    ]

    async def run() -> list[Receipt]:
        ctxs = [ctx_for(n) for n in notices]
        return await asyncio.gather(
            *(adapter.send(adapter.render(n, c), c) for n, c in zip(notices, ctxs, strict=True))
        )

    receipts = asyncio.run(run())
    assert sorted(r.remote_id or "" for r in receipts) == sorted(
        m.message_id for m in smtp_server.received
    )
    assert len(smtp_server.received) == 6
    assert smtp_server.handler.sessions <= adapter.threads


def test_auth_failure_is_permanent_and_keeps_the_password(
    smtp_starttls: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    wrong = "wrong-Pa55-Zz9"
    adapter = adapters(smtp_starttls, **tls_options(smtp_starttls, password=wrong))
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapter, notice, ctx_for(notice))
    err = caught.value
    assert err.status == "535"
    assert "refused the credentials" in err.message
    assert SMTP_USER in err.message
    for text in (err.message, str(err), repr(err), repr(adapter.options)):
        assert wrong not in text
    assert smtp_starttls.received == []


def test_starttls_with_the_ca_delivers(
    smtp_starttls: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    receipt = deliver(
        adapters(smtp_starttls, **tls_options(smtp_starttls)), notice, ctx_for(notice)
    )
    [got] = smtp_starttls.received
    assert got.tls
    assert got.login == SMTP_USER.encode()
    assert receipt.remote_id == got.message_id


def test_starttls_without_the_ca_fails_on_the_certificate(
    smtp_starttls: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    options = tls_options(smtp_starttls)
    del options["ca_file"]
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapters(smtp_starttls, **options), notice, ctx_for(notice))
    assert "certificate" in caught.value.message
    assert "ca_file" in caught.value.message
    assert smtp_starttls.received == []


def test_ssl_mode_delivers(smtp_ssl: SmtpPeer, adapters: Adapters, tmp_path: Path) -> None:
    assert smtp_ssl.tls_files is not None
    notice = make_notice(tmp_path)
    adapter = adapters(smtp_ssl, security="ssl", ca_file=str(smtp_ssl.tls_files.ca_file))
    assert adapter.describe() == f"smtps://127.0.0.1:{smtp_ssl.port} → tougao@hywb.example"
    deliver(adapter, notice, ctx_for(notice))
    [got] = smtp_ssl.received
    assert got.tls


def test_connection_refused_is_transient(adapters: Adapters, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    opts = EmailInboxOptions.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "a@b.example",
            "to": ["c@d.example"],
        }
    )
    adapter = EmailInboxAdapter("hywb_mail", opts)
    adapters.made.append(adapter)
    notice = make_notice(tmp_path)
    with pytest.raises(TransientDeliveryError) as caught:
        deliver(adapter, notice, ctx_for(notice))
    assert f"127.0.0.1:{port}" in caught.value.message


def test_title_markup_is_escaped_in_html(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path, title="某工程<script>alert('x')</script>招标公告")
    deliver(adapters(smtp_server), notice, ctx_for(notice))
    [got] = smtp_server.received
    html = got.message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<script>" not in content
    assert "&lt;script&gt;" in content
    assert got.message["Subject"] == "【工程建设】某工程<script>alert('x')</script>招标公告"


def test_render_is_deterministic(smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path) -> None:
    notice = make_notice(tmp_path)
    first = adapters(smtp_server).render(notice, ctx_for(notice, attempt=1))
    again = adapters(smtp_server).render(notice, ctx_for(notice, attempt=3))
    assert first.digest() == again.digest()
    assert first.parts == again.parts
    other = adapters(smtp_server).render(notice, ctx_for(notice, channel="nfrb_mail"))
    assert other.digest() != first.digest()
    assert other.headers["Message-ID"] == "<HYZB-2016-0123.v1.nfrb_mail@syndicate>"


def test_attachment_digest_mismatch_is_permanent(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    Path(str(notice.attachments[0].path)).write_bytes(PDF + b"tampered")
    with pytest.raises(PermanentDeliveryError) as caught:
        adapters(smtp_server).render(notice, ctx_for(notice))
    assert "招标文件.pdf" in caught.value.message
    assert "sha256" in caught.value.message


def test_correction_subject_and_custom_templates(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path, version=2, nature="correction", attachments=[])
    adapter = adapters(
        smtp_server,
        subject="[{{ notice.project_code }}] {{ notice.title }}\n（第{{ notice.version }}版）",
        html="<h2>{{ notice.title }}</h2>{{ notice.body_html }}",
        text="{{ body_text }}",
    )
    payload = adapter.render(notice, ctx_for(notice))
    assert payload.headers["Subject"] == f"[HYZB2016-0123] {TITLE} （第2版）"
    default = adapters(smtp_server).render(notice, ctx_for(notice))
    assert default.headers["Subject"] == f"【工程建设·更正】{TITLE}"
    deliver(adapter, notice, ctx_for(notice))
    msg = smtp_server.received[0].message
    html = msg.get_body(("html",))
    text = msg.get_body(("plain",))
    assert html is not None
    assert text is not None
    # A custom HTML template autoescapes: the body shows as text unless marked safe.
    assert "&lt;p&gt;一、招标条件&lt;/p&gt;" in html.get_content()
    # Text parts are in canonical MIME form: CRLF line ends.
    assert text.get_content().startswith("一、招标条件\r\n本招标项目")
    assert list(msg.iter_attachments()) == []


def test_options_are_checked(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    base = {"host": "smtp.hywb.example", "from_address": "a@b.example", "to": ["c@d.example"]}
    opts = EmailInboxOptions.model_validate(
        base | {"ca_file": "ca.pem"}, context={"base_dir": tmp_path}
    )
    assert opts.ca_file == tmp_path / "ca.pem"
    assert opts.effective_port == 587
    with pytest.raises(ValidationError, match="unencrypted"):
        EmailInboxOptions.model_validate(
            base | {"security": "none", "username": "u", "password": "p"}
        )
    with pytest.raises(ValidationError, match="no such file"):
        EmailInboxOptions.model_validate(
            base | {"ca_file": "missing.pem"}, context={"base_dir": tmp_path}
        )
    with pytest.raises(ValidationError, match="must be ASCII"):
        EmailInboxOptions.model_validate(base | {"username": "u", "password": "密码"})
    with pytest.raises(ValidationError, match="both username and password"):
        EmailInboxOptions.model_validate(base | {"username": "u"})
    with pytest.raises(ValidationError, match="private attribute"):
        EmailInboxOptions.model_validate(base | {"subject": "{{ notice.__class__ }}"})
    with pytest.raises(ValidationError):
        EmailInboxOptions.model_validate(base | {"to": ["not an address"]})
    with pytest.raises(ValidationError):
        EmailInboxOptions.model_validate(base | {"bcc": ["c@d.example"]})


CHANNEL_YAML = """\
version: 1
channels:
  heyuan-evening:
    description: 河源晚报 — 公告投稿邮箱
    adapter: email_inbox
    host: smtp.exmail.qq.com
    port: 465
    security: ssl
    username: ggzy@heyuan.gov.cn
    password: ${HEYUAN_EVENING_SMTP_PASSWORD}
    from_address: ggzy@heyuan.gov.cn
    from_name: 河源市公共资源交易中心
    to: [tougao@hywb.cn]
    cc: [fabu@heyuan.gov.cn]
    message_id_domain: ggzy.heyuan.gov.cn
    subject: "【{{ category_label }}】{{ notice.title }}（{{ notice.project_code }}）"
    socket_timeout: 30s
    timeout: 90s
routes:
  - match: {notice_type: [tender, transfer]}
    channels: [heyuan-evening]
"""


def test_channel_from_channels_yaml(tmp_path: Path) -> None:
    registry = AdapterRegistry({"email_inbox": EmailInboxAdapter})
    env = {"HEYUAN_EVENING_SMTP_PASSWORD": "Hy-2016-app-pass"}
    # The attachment files are in tmp_path, the attachments folder of a config in tmp_path/conf.
    text = CHANNEL_YAML.replace("version: 1\n", "version: 1\nattachments: {root: ..}\n")
    config = parse_config(text, "channels.yaml", registry, base_dir=tmp_path / "conf", env=env)
    channel = config.channels["heyuan-evening"]
    assert channel.settings.timeout == 90
    adapter = build_adapter(channel)
    assert isinstance(adapter, EmailInboxAdapter)
    opts = adapter.options
    assert opts.password is not None
    assert opts.password.get_secret_value() == "Hy-2016-app-pass"
    assert opts.socket_timeout == 30
    assert "Hy-2016-app-pass" not in repr(opts)
    assert adapter.describe() == "smtps://smtp.exmail.qq.com:465 → tougao@hywb.cn"
    notice = make_notice(tmp_path)
    payload = adapter.render(notice, ctx_for(notice, channel="heyuan-evening"))
    assert payload.headers["Subject"] == f"【工程建设】{TITLE}（HYZB2016-0123）"
    assert payload.headers["Message-ID"] == (
        "<HYZB-2016-0123.v1.heyuan-evening@ggzy.heyuan.gov.cn>"
    )
    assert "Hy-2016-app-pass" not in payload.preview()


def test_check_names_missing_attachment_files(tmp_path: Path) -> None:
    notice = make_notice(tmp_path)
    opts = EmailInboxOptions.model_validate(
        {"host": "h.example", "from_address": "a@b.example", "to": ["c@d.example"]}
    )
    adapter = EmailInboxAdapter("hywb_mail", opts)
    assert adapter.check(notice) == []
    Path(str(notice.attachments[0].path)).unlink()
    assert adapter.check(notice) == ["attachment '招标文件.pdf': no file at 招标文件.pdf"]
    with pytest.raises(PermanentDeliveryError, match="no file at"):
        adapter.render(notice, ctx_for(notice))


def test_ssl_mode_without_the_ca_fails_on_the_certificate(
    smtp_ssl: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapters(smtp_ssl, security="ssl"), notice, ctx_for(notice))
    assert "certificate not trusted" in caught.value.message
    assert smtp_ssl.received == []


def test_ssl_mode_against_a_plain_server_is_permanent(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path)
    with pytest.raises(PermanentDeliveryError) as caught:
        deliver(adapters(smtp_server, security="ssl", verify=False), notice, ctx_for(notice))
    assert "TLS failed" in caught.value.message


def test_a_withdrawal_is_mailed_as_a_reply_to_the_notice(
    smtp_server: SmtpPeer, adapters: Adapters, tmp_path: Path
) -> None:
    notice = make_notice(tmp_path, version=2, nature="correction")
    key = f"{notice.id}.v2.hywb_mail.withdrawal"
    ctx = DeliveryContext(
        channel="hywb_mail",
        idempotency_key=key,
        purpose=Purpose.withdrawal,
        previous=EarlierDelivery(1, DeliveryState.delivered, None, None),
        withdrawal=Withdrawal(notice.id, 2, "招标人终止招标", 1456793400.0),
    )
    deliver(adapters(smtp_server), notice, ctx)
    [got] = smtp_server.received
    msg = got.message
    assert msg["Subject"] == f"撤回公告：{TITLE}"
    assert msg["Message-ID"] == f"<{key}@syndicate>"
    assert msg["In-Reply-To"] == "<HYZB-2016-0123.v1.hywb_mail@syndicate>"
    text = msg.get_body(("plain",))
    assert text is not None
    assert "撤回原因：招标人终止招标" in text.get_content()
    assert "撤回时间：2016-03-01 08:50" in text.get_content()
    assert list(msg.iter_attachments()) == []
