"""email_inbox against a real mail server: Postfix 3.7 on loopback, SASL through Dovecot."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from syndicate_adapters.email_inbox import EmailInboxAdapter, EmailInboxOptions

from syndicate.adapter import DeliveryContext, Receipt
from syndicate.notice import Notice
from tests.peers.postfix import CERT, SASL_PASSWORD, SASL_USER, MailServer

pytestmark = pytest.mark.integration


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


def deliver(adapter: EmailInboxAdapter, notice: Notice) -> tuple[Receipt, DeliveryContext]:
    ctx = DeliveryContext(
        channel=adapter.channel, idempotency_key=f"{notice.key}.{adapter.channel}"
    )

    async def go() -> Receipt:
        try:
            return await adapter.send(adapter.render(notice, ctx), ctx)
        finally:
            await adapter.aclose()

    return asyncio.run(go()), ctx


def test_plain_smtp_on_25_reaches_the_maildir(
    postfix: MailServer, make_notice: Callable[..., dict[str, Any]]
) -> None:
    notice = Notice.parse(make_notice(id="PF-PLAIN-1"))
    receipt, _ = deliver(mailer(postfix), notice)
    message = postfix.wait_for("hywb", "<PF-PLAIN-1.v1.hywb_mail@syndicate>")
    assert str(message["Subject"]) == "【工程建设】河源市东环路改造工程施工招标公告"
    assert receipt.remote_id == "<PF-PLAIN-1.v1.hywb_mail@syndicate>"


def test_starttls_and_sasl_on_587_reach_the_maildir(
    postfix: MailServer, make_notice: Callable[..., dict[str, Any]]
) -> None:
    notice = Notice.parse(make_notice(id="PF-SUBMIT-1"))
    adapter = mailer(
        postfix,
        port=postfix.submission_port,
        security="starttls",
        username=SASL_USER,
        password=SASL_PASSWORD,
        verify=False,
    )
    deliver(adapter, notice)
    message = postfix.wait_for("hywb", "<PF-SUBMIT-1.v1.hywb_mail@syndicate>")
    assert str(message["From"]) == "河源市公共资源交易中心 <fabu@ggzy.heyuan.example>"
    assert CERT.exists()
