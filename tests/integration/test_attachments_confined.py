"""Attachments cannot read what they should not: a notice written to read files, against a real SMTP peer.

The attachments folder is a folder of its own; a path out of it through a
symbolic link (of a folder or of the file) is refused; a secret file of the
configuration cannot be attached even as a hard link inside the folder; no
message says where a file really is or what hash it really has.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from syndicate.errors import NoticeError
from syndicate.store.base import AttemptFilter
from syndicate.syndicator import Syndicator
from tests.conftest import BASE_NOTICE

if TYPE_CHECKING:
    from tests.peers.smtp import SmtpPeer

pytestmark = pytest.mark.integration

SECRET = b"SECRET-TOKEN-in-a-token-file-5b1e\n"


def notice(number: int, path: str, content: bytes) -> dict[str, Any]:
    data = copy.deepcopy(BASE_NOTICE)
    data["id"] = f"HYZB-2026-{number:04d}"
    data["publish_at"] = "2024-01-01T09:00:00+08:00"
    data["attachments"] = [
        {"name": "file.txt", "path": path, "sha256": hashlib.sha256(content).hexdigest()}
    ]
    return data


@pytest.fixture
def site(tmp_path: Path, smtp_server: SmtpPeer) -> Path:
    site = tmp_path / "site"
    (site / "secrets").mkdir(parents=True)
    (site / "secrets" / "token").write_bytes(SECRET)
    (site / "attachments").mkdir()
    (site / "attachments" / "ok.txt").write_bytes(b"an honest attachment\n")
    (site / "outside.txt").write_bytes(b"a file next to channels.yaml\n")
    (site / "attachments" / "to-secrets").symlink_to(site / "secrets")
    (site / "attachments" / "to-outside.txt").symlink_to(site / "outside.txt")
    os.link(site / "secrets" / "token", site / "attachments" / "hard-token.txt")
    (site / "channels.yaml").write_text(
        f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 2s, lease: 30s}}
defaults:
  timeout: 10s
  retry: {{max_attempts: 1}}
channels:
  mail:
    adapter: email_inbox
    host: 127.0.0.1
    port: {smtp_server.port}
    security: none
    from_address: ggzy@heyuan.gov.cn
    to: [tougao@hywb.cn]
    socket_timeout: 5s
  portal:
    adapter: cms_http
    enabled: false
    url: https://127.0.0.1:9/portal
    auth: {{type: bearer, token_file: secrets/token}}
routes:
  - channels: [mail]
""",
        encoding="utf-8",
    )
    return site


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("to-secrets/token", "secrets/token"),
        ("to-outside.txt", "outside.txt"),
        ("hard-token.txt", "secrets/token"),
        ("../outside.txt", "outside.txt"),
        ("ok.txt/../../outside.txt", "outside.txt"),
    ],
)
def test_a_path_out_of_the_folder_is_refused_without_disclosure(
    site: Path, smtp_server: SmtpPeer, path: str, target: str
) -> None:
    content = (site / target).read_bytes()
    with Syndicator.from_config(site / "channels.yaml") as syndicator:
        with pytest.raises(NoticeError) as refused:
            syndicator.enqueue(notice(1, path, content))
        syndicator.drain(timeout=10)
    text = str(refused.value)
    assert "attachment" in text, text
    assert str(site) not in text
    assert str(site.resolve()) not in text
    assert smtp_server.received == []


def test_the_folder_is_its_own_and_a_wrong_file_never_shows_its_hash(
    site: Path, smtp_server: SmtpPeer
) -> None:
    honest = (site / "attachments" / "ok.txt").read_bytes()
    with Syndicator.from_config(site / "channels.yaml") as syndicator:
        # Relative to channels.yaml the path would name a real file: not the folder used.
        with pytest.raises(NoticeError, match=r"no file at outside\.txt"):
            syndicator.enqueue(notice(1, "outside.txt", b"a file next to channels.yaml\n"))
        syndicator.enqueue(notice(2, "ok.txt", honest))
        syndicator.enqueue(notice(3, "ok.txt", b"what the notice pinned"))
        syndicator.drain(timeout=20)
        attempts = {a.notice_id: a for a in syndicator.store.attempts(AttemptFilter())}
    assert attempts["HYZB-2026-0002"].outcome.value == "delivered"
    wrong = attempts["HYZB-2026-0003"]
    assert wrong.outcome.value == "permanent"
    assert "does not match the sha256" in str(wrong.error_message)
    assert hashlib.sha256(honest).hexdigest() not in str(wrong.error_message)
    assert str(site) not in str(wrong.error_message)
    assert len(smtp_server.received) == 1
