"""Every text channel prints a notice in the same words (招标投标法实施条例 Art. 15).

The newspapers' SFTP text file and the text part of the e-mail come from one
function; this renders every example notice through both and compares them.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from syndicate_adapters.email_inbox import EmailInboxAdapter, EmailInboxOptions
from syndicate_adapters.sftp_inbox import SftpInboxAdapter, SftpInboxOptions

from syndicate.adapter import DeliveryContext
from syndicate.attachments import AttachmentFiles
from syndicate.notice import Notice
from syndicate.text import html_to_text, notice_text

ROOT = Path(__file__).resolve().parents[2]
NOTICES = sorted((ROOT / "examples" / "notices").glob("*.json"))
FILES = AttachmentFiles(ROOT)

SFTP = SftpInboxAdapter(
    "heyuan-daily",
    SftpInboxOptions.model_validate(
        {
            "host": "sftp.example.cn",
            "username": "ggzy",
            "password": "not-used",
            "host_key": "SHA256:7Qm2nY0qPZ0lG7f3sV3y1bX0wq2c5m8dJ4rTzK6uH1E",
            "directory": "/inbox",
            "format": "text",
        }
    ),
    attachments=FILES,
)
MAIL = EmailInboxAdapter(
    "heyuan-evening",
    EmailInboxOptions.model_validate(
        {"host": "smtp.example.cn", "from_address": "ggzy@example.cn", "to": ["tougao@example.cn"]}
    ),
    attachments=FILES,
)


def _ctx(channel: str, notice: Notice) -> DeliveryContext:
    return DeliveryContext(channel, f"{notice.key}.{channel}", notice_digest=notice.digest())


@pytest.mark.parametrize("path", NOTICES, ids=[p.stem for p in NOTICES])
def test_sftp_text_and_mail_text_are_the_same(path: Path) -> None:
    notice = Notice.parse(path.read_bytes())
    payload = SFTP.render(notice, _ctx("heyuan-daily", notice))
    sftp_text = payload.parts[payload.data["main"]].decode("utf-8")
    mail = MAIL.render(notice, _ctx("heyuan-evening", notice))
    message = email.message_from_bytes(mail.parts["message.eml"], policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    # SMTP carries lines ending CRLF; the words are what must be the same.
    mail_text = body.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]
    assert sftp_text == mail_text == notice_text(notice)
    assert html_to_text(notice.body_html) in sftp_text


def test_html_to_text_keeps_structure() -> None:
    html = (
        "<h1>标题</h1><p>第一段 <b>加粗</b>&amp;实体</p>"
        "<script>x()</script><ul><li>一</li><li>二</li></ul>"
        "<table><tr><td>宗地编号</td><td>HY-2026-01</td></tr></table><pre>  原样\n  保留</pre>"
    )
    assert (
        html_to_text(html) == "标题\n第一段 加粗&实体\n一\n二\n宗地编号\tHY-2026-01\n  原样\n  保留"
    )


def test_one_wording_of_the_categories() -> None:
    notice = Notice.parse(next(p for p in NOTICES if "land" in p.name).read_bytes())
    text = notice_text(notice)
    assert "业务类别：土地矿产" in text
    mail = MAIL.render(notice, _ctx("heyuan-evening", notice))
    assert "土地矿产" in mail.headers["Subject"]
