"""The demo's SFTP and SMTP inboxes, talked to by real clients on loopback."""

from __future__ import annotations

import email
import smtplib
import socket
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import paramiko
import pytest
from syndicate_adapters._sftp import SftpConnection, SftpSettings

from syndicate.demo.sftp_inbox import SftpInbox, generate_key
from syndicate.demo.smtp_inbox import SmtpInbox
from syndicate.errors import PermanentDeliveryError

pytestmark = pytest.mark.integration

USER = "hyggzy"


@pytest.fixture
def client_key() -> tuple[paramiko.PKey, str]:
    return generate_key()


@pytest.fixture
def inbox(tmp_path: Path, client_key: tuple[paramiko.PKey, str]) -> Iterator[SftpInbox]:
    server = SftpInbox(tmp_path / "root", username=USER, authorized_key=client_key[0])
    with server:
        (server.root / "inbox").mkdir()
        yield server


@pytest.fixture
def sftp(inbox: SftpInbox, client_key: tuple[paramiko.PKey, str]) -> Iterator[paramiko.SFTPClient]:
    transport = paramiko.Transport(socket.create_connection(("127.0.0.1", inbox.port), timeout=10))
    try:
        transport.start_client(timeout=10)
        transport.auth_publickey(USER, client_key[0])
        client = paramiko.SFTPClient.from_transport(transport)
        assert client is not None
        yield client
    finally:
        transport.close()


def settings(inbox: SftpInbox, key_text: str, **changes: object) -> SftpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": inbox.port,
        "username": USER,
        "private_key": key_text,
        "host_key": inbox.host_key_fingerprint,
    }
    return SftpSettings.model_validate(values | changes)


def test_the_adapters_atomic_upload_lands_in_the_root(
    inbox: SftpInbox, client_key: tuple[paramiko.PKey, str]
) -> None:
    connection = SftpConnection(settings(inbox, client_key[1]))
    try:
        paths = connection.upload_atomic(
            "/inbox", {"a.txt": "公告".encode(), "a.manifest.json": b"{}"}
        )
        again = connection.upload_atomic("/inbox", {"a.txt": b"replaced"})
    finally:
        connection.close()
    assert paths == ["/inbox/a.txt", "/inbox/a.manifest.json"]
    assert again == ["/inbox/a.txt"]
    assert sorted(p.name for p in (inbox.root / "inbox").iterdir()) == ["a.manifest.json", "a.txt"]
    assert (inbox.root / "inbox" / "a.txt").read_bytes() == b"replaced"


def test_host_key_pin_and_client_key_are_enforced(
    inbox: SftpInbox, client_key: tuple[paramiko.PKey, str]
) -> None:
    other_host = SftpInbox(inbox.root, username=USER, authorized_key=client_key[0])
    assert other_host.host_key_fingerprint != inbox.host_key_fingerprint
    pinned_wrong = SftpConnection(
        settings(inbox, client_key[1], host_key=other_host.host_key_fingerprint)
    )
    with pytest.raises(PermanentDeliveryError) as wrong_host:
        pinned_wrong.upload_atomic("/inbox", {"x.txt": b"x"})
    assert wrong_host.value.status == "host-key"
    stranger = SftpConnection(settings(inbox, generate_key()[1]))
    with pytest.raises(PermanentDeliveryError) as wrong_user:
        stranger.upload_atomic("/inbox", {"x.txt": b"x"})
    assert wrong_user.value.status == "auth"
    assert list((inbox.root / "inbox").iterdir()) == []


def test_paths_cannot_leave_the_root(
    inbox: SftpInbox, sftp: paramiko.SFTPClient, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (inbox.root / "link").symlink_to(outside)
    for attempt in (
        lambda: sftp.listdir("/.."),
        lambda: sftp.open("/../escaped.txt", "w"),
        lambda: sftp.open("inbox/../../escaped.txt", "w"),
        lambda: sftp.open("/link/escaped.txt", "w"),
        lambda: sftp.posix_rename("/inbox", "/../moved"),
        lambda: sftp.mkdir("/../made"),
    ):
        with pytest.raises(PermissionError):
            attempt()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "root"]
    assert list(outside.iterdir()) == []
    # ".." that stays inside is an ordinary path
    with sftp.open("/inbox/../inbox/inside.txt", "w") as f:
        f.write(b"ok")
    assert (inbox.root / "inbox" / "inside.txt").read_bytes() == b"ok"
    assert sftp.normalize("/inbox/..") == "/"


def test_rename_keeps_and_posix_rename_replaces(
    inbox: SftpInbox, sftp: paramiko.SFTPClient
) -> None:
    for name, text in (("a", b"new"), ("b", b"newer"), ("target", b"old")):
        with sftp.open(f"/inbox/{name}", "w") as f:
            f.write(text)
    with pytest.raises(OSError):  # noqa: PT011 - SFTP v3 says only "failure"
        sftp.rename("/inbox/a", "/inbox/target")
    assert (inbox.root / "inbox" / "target").read_bytes() == b"old"
    sftp.posix_rename("/inbox/b", "/inbox/target")
    assert (inbox.root / "inbox" / "target").read_bytes() == b"newer"
    assert sorted(sftp.listdir("/inbox")) == ["a", "target"]
    assert sftp.stat("/inbox/target").st_size == 5
    with sftp.open("/inbox/target") as f:
        assert f.read() == b"newer"
    with pytest.raises(FileNotFoundError):
        sftp.stat("/inbox/missing")


def _message(message_id: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "ggzy@heyuan.example.cn"
    msg["To"] = "tougao@hywb.example.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg.set_content("公告正文")
    return msg


def test_smtp_inbox_files_each_message_by_message_id(tmp_path: Path) -> None:
    with (
        SmtpInbox(tmp_path / "mail") as inbox,
        smtplib.SMTP("127.0.0.1", inbox.port, timeout=10) as smtp,
    ):
        smtp.send_message(_message("<HY-1.v1.evening@demo.example>", "first"))
        smtp.send_message(_message("<HY-2.v1.evening@demo.example>", "second"))
        smtp.send_message(_message("<HY-1.v1.evening@demo.example>", "first, again"))
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert [p.name for p in files] == [
        "HY-1.v1.evening@demo.example.eml",
        "HY-2.v1.evening@demo.example.eml",
    ]
    assert inbox.duplicates == 1
    assert [m.subject for m in inbox.received] == ["first", "second", "first, again"]
    assert inbox.received[0].rcpt_tos == ("tougao@hywb.example.cn",)
    kept = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert kept["Subject"] == "first, again"
    assert kept.get_content().strip() == "公告正文"  # type: ignore[attr-defined]
