"""sftp_inbox and the shared SFTP transport against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import re
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docx
import pytest
from pydantic import ValidationError
from syndicate_adapters._sftp import SftpConnection, SftpSettings
from syndicate_adapters.sftp_inbox import SftpInboxAdapter, SftpInboxOptions, safe_name

from syndicate.adapter import DeliveryContext, Payload, Receipt
from syndicate.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Notice
from syndicate.store.base import DeliveryState, EarlierDelivery, Purpose, Withdrawal

if TYPE_CHECKING:
    from tests.peers.sshd import KeyPair, SshServer

MakeKey = Callable[[str], "KeyPair"]

pytestmark = pytest.mark.integration

CHANNEL = "nfdaily"
SAFE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")


@pytest.fixture(autouse=True)
def _attachments_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adapters read attachments relative to the current folder unless configured."""
    monkeypatch.chdir(tmp_path)


def make_notice(**changes: Any) -> Notice:
    data: dict[str, Any] = {
        "id": "HY-GC-2016-001",
        "version": 1,
        "category": "construction",
        "notice_type": "tender",
        "project_code": "HYGC2016-001",
        "title": "河源市东江大桥维修加固工程施工招标公告",
        "body_html": "<p>本招标项目已由河源市发展和改革局批准建设。</p>"
        "<table><tr><td>标段</td><td>一标段</td></tr></table><p>欢迎投标。</p>",
        "region_code": "441600",
        "publisher": {"name": "河源市公共资源交易中心"},
        "publish_at": "2016-03-01T09:00:00+08:00",
        "deadlines": {"submission_deadline": "2016-03-22T09:30:00+08:00"},
    }
    data.update(changes)
    return Notice.parse(data)


def context(notice: Notice) -> DeliveryContext:
    return DeliveryContext(
        channel=CHANNEL,
        idempotency_key=f"{notice.key}.{CHANNEL}",
        notice_digest=notice.digest(),
    )


def options(server: SshServer, key: KeyPair, inbox: Path | str, **changes: Any) -> SftpInboxOptions:
    data: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "username": server.user,
        "private_key": key.private_pem,
        "host_key": server.host_key.fingerprint,
        "directory": str(inbox),
        "connect_timeout": "5s",
    }
    data.update(changes)
    return SftpInboxOptions.model_validate({k: v for k, v in data.items() if v is not None})


def deliver(adapter: SftpInboxAdapter, notices: Sequence[Notice]) -> list[Receipt | DeliveryError]:
    """Render and send each notice in turn through the async contract, then close."""

    async def run() -> list[Receipt | DeliveryError]:
        results: list[Receipt | DeliveryError] = []
        try:
            for notice in notices:
                ctx = context(notice)
                try:
                    results.append(await adapter.send(adapter.render(notice, ctx), ctx))
                except DeliveryError as exc:
                    results.append(exc)
        finally:
            await adapter.aclose()
        return results

    return asyncio.run(run())


def deliver_one(adapter: SftpInboxAdapter, notice: Notice) -> Receipt:
    (result,) = deliver(adapter, [notice])
    if isinstance(result, DeliveryError):
        raise result
    return result


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class Watcher:
    """Lists a directory over and over from another thread while an upload runs."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.snapshots: list[dict[str, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch)

    def _watch(self) -> None:
        while True:
            last = self._done.is_set()  # one more look after the upload returned
            seen = {}
            for entry in os.scandir(self.directory):
                try:
                    seen[entry.name] = entry.stat().st_size
                except FileNotFoundError:  # a temp file renamed away between list and stat
                    continue
            self.snapshots.append(seen)
            if last:
                return

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox" / "南方日报"
    path.mkdir(parents=True)
    return path


def attachment(tmp_path: Path, name: str, content: bytes) -> dict[str, Any]:
    path = tmp_path / "files" / hashlib.sha256(name.encode()).hexdigest()[:8]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    return {
        "name": name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "size": len(content),
        "media_type": "application/pdf",
        "path": str(path.relative_to(tmp_path)),  # the attachments folder is tmp_path
    }


# --- delivery ------------------------------------------------------------------


def test_delivery_lands_complete_files_and_manifest(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    pdf = "%PDF-1.4 招标文件\n".encode() * 100
    notice = make_notice(
        attachments=[
            attachment(tmp_path, "招标文件.pdf", pdf),
            {
                "name": "工程量清单.xlsx",
                "sha256": "a" * 64,
                "url": "https://example.invalid/q.xlsx",
            },
        ]
    )
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))

    receipt = deliver_one(adapter, notice)

    names = listing(inbox)
    assert names == [
        "HY-GC-2016-001.v1.a1.pdf",
        "HY-GC-2016-001.v1.manifest.json",
        "HY-GC-2016-001.v1.txt",
    ]
    text = (inbox / "HY-GC-2016-001.v1.txt").read_text(encoding="utf-8")
    assert text.startswith("河源市东江大桥维修加固工程施工招标公告\n")
    assert "项目编号：HYGC2016-001" in text
    assert "投标截止：2016-03-22 09:30" in text
    assert "本招标项目已由河源市发展和改革局批准建设。\n标段\t一标段\n欢迎投标。" in text
    assert "<p>" not in text
    assert (inbox / "HY-GC-2016-001.v1.a1.pdf").read_bytes() == pdf

    manifest = json.loads((inbox / "HY-GC-2016-001.v1.manifest.json").read_text("utf-8"))
    assert manifest["idempotency_key"] == "HY-GC-2016-001.v1.nfdaily"
    assert manifest["notice"]["digest"] == notice.digest()
    assert manifest["notice"]["id"] == "HY-GC-2016-001"
    assert [f["name"] for f in manifest["files"]] == [
        "HY-GC-2016-001.v1.txt",
        "HY-GC-2016-001.v1.a1.pdf",
    ]
    for entry in manifest["files"]:
        content = (inbox / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["size"] == len(content)
    assert manifest["files"][1]["original_name"] == "招标文件.pdf"
    assert manifest["links"] == [
        {"name": "工程量清单.xlsx", "sha256": "a" * 64, "url": "https://example.invalid/q.xlsx"}
    ]
    assert receipt.remote_id == "HY-GC-2016-001.v1.txt"
    assert receipt.url == f"sftp://127.0.0.1:{sshd.port}{inbox}/HY-GC-2016-001.v1.txt"


def test_manifest_appears_only_when_everything_else_is_complete(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    big = os.urandom(2 * 1024 * 1024)
    notice = make_notice(attachments=[attachment(tmp_path, "big.bin", big)])
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    manifest = "HY-GC-2016-001.v1.manifest.json"
    snapshots: list[dict[str, int]] = []

    with Watcher(inbox) as watcher:
        deliver_one(adapter, notice)
    snapshots = [s for s in watcher.snapshots if manifest in s]

    assert snapshots, "the watcher never saw the manifest"
    expected = json.loads((inbox / manifest).read_text("utf-8"))["files"]
    for seen in snapshots:
        assert {f["name"]: f["size"] for f in expected}.items() <= seen.items()
    assert any(manifest not in s and s for s in watcher.snapshots)  # it watched the upload


def test_a_redelivery_replaces_the_files_without_duplicates(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    notice = make_notice()

    results = deliver(adapter, [notice, notice])

    assert all(isinstance(r, Receipt) for r in results)
    assert listing(inbox) == ["HY-GC-2016-001.v1.manifest.json", "HY-GC-2016-001.v1.txt"]


def test_known_hosts_file_pins_the_host(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    (tmp_path / "known_hosts").write_text(sshd.known_hosts_line + "\n", encoding="ascii")
    opts = SftpInboxOptions.model_validate(
        {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.user,
            "private_key": ssh_client_key.private_pem,
            "known_hosts": "known_hosts",
            "directory": str(inbox),
        },
        context={"base_dir": tmp_path},
    )
    assert opts.known_hosts == tmp_path / "known_hosts"

    deliver_one(SftpInboxAdapter(CHANNEL, opts), make_notice())

    assert "HY-GC-2016-001.v1.manifest.json" in listing(inbox)


def test_secret_files_are_read_relative_to_the_config_folder(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "id_nfrb").write_text(ssh_client_key.private_pem, encoding="ascii")
    opts = SftpInboxOptions.model_validate(
        {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.user,
            "private_key_file": "secrets/id_nfrb",
            "host_key": sshd.host_key.fingerprint,
            "directory": str(inbox),
        },
        context={"base_dir": tmp_path},
    )

    deliver_one(SftpInboxAdapter(CHANNEL, opts), make_notice())

    assert "HY-GC-2016-001.v1.manifest.json" in listing(inbox)


# --- host keys and credentials -------------------------------------------------


def test_wrong_fingerprint_is_permanent_and_sends_nothing(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path, ssh_keygen: MakeKey
) -> None:
    other = ssh_keygen("other_host_key")
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, host_key=other.fingerprint)
    )

    with pytest.raises(PermanentDeliveryError, match="not the pinned") as caught:
        deliver_one(adapter, make_notice())

    assert caught.value.status == "host-key"
    assert sshd.host_key.fingerprint in str(caught.value)
    assert listing(inbox) == []
    assert sshd.logins() == 0
    assert "Failed publickey" not in sshd.log()  # no credential was even offered


def test_host_missing_from_known_hosts_is_permanent(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    kind, blob = sshd.host_key.public_line.split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:1 {kind} {blob}\n", encoding="ascii")  # another port
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, host_key=None, known_hosts=str(known))
    )

    with pytest.raises(PermanentDeliveryError, match="is not in known_hosts"):
        deliver_one(adapter, make_notice())

    assert listing(inbox) == []
    assert sshd.logins() == 0


def test_changed_host_key_is_permanent(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path, ssh_keygen: MakeKey
) -> None:
    other = ssh_keygen("old_host_key")
    kind, blob = other.public_line.split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {kind} {blob}\n", encoding="ascii")
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, host_key=None, known_hosts=str(known))
    )

    with pytest.raises(PermanentDeliveryError, match="does not match known_hosts"):
        deliver_one(adapter, make_notice())

    assert listing(inbox) == []
    assert sshd.logins() == 0


def test_wrong_client_key_is_permanent_with_a_credentials_message(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path, ssh_keygen: MakeKey
) -> None:
    stranger = ssh_keygen("stranger")
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, private_key=stranger.private_pem)
    )

    with pytest.raises(PermanentDeliveryError, match="refused the credentials") as caught:
        deliver_one(adapter, make_notice())

    assert caught.value.status == "auth"
    assert "PRIVATE KEY" not in str(caught.value)
    assert listing(inbox) == []
    assert "Failed publickey" in sshd.log()


def test_wrong_password_is_permanent_and_never_echoed(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    secret = "河源-not-the-password-42"
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, private_key=None, password=secret)
    )

    with pytest.raises(PermanentDeliveryError, match="refused the credentials") as caught:
        deliver_one(adapter, make_notice())

    assert secret not in str(caught.value)
    assert secret not in repr(adapter.options)
    assert "Failed password" in sshd.log()
    assert listing(inbox) == []


# --- the inbox itself ----------------------------------------------------------


def test_read_only_inbox_is_permanent(
    sshd_read_only: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd_read_only, ssh_client_key, inbox))

    with pytest.raises(PermanentDeliveryError, match="permission denied") as caught:
        deliver_one(adapter, make_notice())

    assert caught.value.status == "permission"
    assert listing(inbox) == []
    assert sshd_read_only.logins() == 1  # it got in; the write was refused


def test_inbox_under_a_regular_file_is_permanent(
    sshd: SshServer, ssh_client_key: KeyPair, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"")
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, blocker / "inbox"))

    with pytest.raises(PermanentDeliveryError, match="does not exist"):
        deliver_one(adapter, make_notice())

    assert blocker.read_bytes() == b""


def test_stopped_server_is_transient(sshd: SshServer, ssh_client_key: KeyPair, inbox: Path) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    sshd.stop()

    with pytest.raises(TransientDeliveryError, match="cannot connect"):
        deliver_one(adapter, make_notice())


def test_a_server_that_never_speaks_ssh_is_transient(
    ssh_client_key: KeyPair, inbox: Path, sshd: SshServer
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        adapter = SftpInboxAdapter(
            CHANNEL,
            options(sshd, ssh_client_key, inbox, port=port, connect_timeout="300ms"),
        )

        with pytest.raises(TransientDeliveryError, match="handshake") as caught:
            deliver_one(adapter, make_notice())

    assert caught.value.status == "handshake"


def test_one_connection_serves_many_deliveries_and_reopens_after_a_restart(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    notices = [make_notice(id=f"HY-GC-2016-00{i}") for i in (1, 2, 3)]

    async def run() -> list[Receipt]:
        ctxs = [context(n) for n in notices]
        receipts = [
            await adapter.send(adapter.render(n, c), c) for n, c in zip(notices, ctxs, strict=True)
        ]
        logins_before_restart.append(sshd.logins())
        sshd.restart()
        fourth = make_notice(id="HY-GC-2016-004")
        receipts.append(
            await adapter.send(adapter.render(fourth, context(fourth)), context(fourth))
        )
        await adapter.aclose()
        return receipts

    logins_before_restart: list[int] = []
    receipts = asyncio.run(run())

    assert len(receipts) == 4
    assert logins_before_restart == [1]
    assert sshd.logins() == 2
    assert len([n for n in listing(inbox) if n.endswith(".manifest.json")]) == 4


def test_dropped_idle_connection_is_reopened_transparently(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    settings = SftpSettings.model_validate(
        {
            "host": sshd.host,
            "port": sshd.port,
            "username": sshd.user,
            "private_key": ssh_client_key.private_pem,
            "host_key": sshd.host_key.fingerprint,
        }
    )
    connection = SftpConnection(settings)
    try:
        connection.upload_atomic(str(inbox), {"one.txt": b"1"})
        sshd.restart()
        paths = connection.upload_atomic(str(inbox), {"two.txt": b"2"})
    finally:
        connection.close()

    assert paths == [f"{inbox}/two.txt"]
    assert listing(inbox) == ["one.txt", "two.txt"]
    assert connection.connections_opened == 2


def test_unsafe_id_is_sanitised_and_stays_in_the_inbox(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    # The Notice model refuses such ids; build one past validation to test the second line.
    notice = make_notice().model_copy(update={"id": "../../escape/新 id;rm -rf"})
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))

    before = {p for p in tmp_path.rglob("*") if "sshd" not in p.parts}

    deliver_one(adapter, notice)

    names = listing(inbox)
    assert names == ["escape_id_rm_-rf.v1.manifest.json", "escape_id_rm_-rf.v1.txt"]
    assert all(SAFE.match(n) for n in names)
    after = {p for p in tmp_path.rglob("*") if "sshd" not in p.parts}
    assert {p.parent for p in after - before} == {inbox}


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("HY-GC-2016-001.v1", "HY-GC-2016-001.v1"),
        ("../../etc/passwd", "etc_passwd"),
        (".hidden", "hidden"),
        ("-rf", "rf"),
        ("招标文件.pdf", "pdf"),
        ("第1标段.pdf", "1_.pdf"),
        ("a/b\\c\x00d", "a_b_c_d"),
        ("...", "notice"),
        ("x" * 300 + ".pdf", "x" * 156 + ".pdf"),
    ],
)
def test_safe_name(raw: str, safe: str) -> None:
    assert safe_name(raw) == safe
    assert SAFE.match(safe_name(raw))


# --- atomicity -----------------------------------------------------------------


def test_a_reader_never_sees_a_partial_file(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    big = os.urandom(5 * 1024 * 1024)
    notice = make_notice(attachments=[attachment(tmp_path, "big.bin", big)])
    final = "HY-GC-2016-001.v1.a1.big.bin"
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))

    with Watcher(inbox) as watcher:
        deliver_one(adapter, notice)

    sizes = [s[final] for s in watcher.snapshots if final in s]
    assert sizes
    assert set(sizes) == {len(big)}
    temp = re.compile(rf"\.{re.escape(final)}\.[0-9a-f]{{12}}\.tmp")
    assert any(temp.fullmatch(name) for s in watcher.snapshots for name in s)
    assert not [n for n in listing(inbox) if n.startswith(".")]
    assert (inbox / final).read_bytes() == big


def test_a_connection_dropped_mid_upload_is_transient_and_leaves_no_visible_file(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    big = os.urandom(64 * 1024 * 1024)
    notice = make_notice(attachments=[attachment(tmp_path, "big.bin", big)])
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    temp = re.compile(r"\..*\.tmp")

    def drop_when_the_upload_is_under_way() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(temp.fullmatch(n) for n in listing(inbox)):
                sshd.stop()  # ends every session: the upload loses its connection
                return
            time.sleep(0.005)

    dropper = threading.Thread(target=drop_when_the_upload_is_under_way)
    dropper.start()
    with pytest.raises(TransientDeliveryError):
        deliver_one(adapter, notice)
    dropper.join()
    # What is visible is whole (files that finished before the drop); the big file
    # exists only under its hidden temporary name, and without a manifest the
    # newspaper knows the submission is not complete.
    visible = [n for n in listing(inbox) if not n.startswith(".")]
    parts = adapter.render(notice, context(notice)).parts
    assert all((inbox / n).read_bytes() == parts[n] for n in visible)
    assert "HY-GC-2016-001.v1.a1.big.bin" not in visible
    assert not [n for n in visible if n.endswith("manifest.json")]


def test_attachment_with_a_wrong_digest_is_permanent(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path, tmp_path: Path
) -> None:
    spec = attachment(tmp_path, "a.pdf", b"original")
    Path(spec["path"]).write_bytes(b"tampered")
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))

    with pytest.raises(PermanentDeliveryError, match="does not match the sha256"):
        deliver_one(adapter, make_notice(attachments=[spec]))

    assert listing(inbox) == []


# --- formats -------------------------------------------------------------------


def test_html_escapes_the_title(sshd: SshServer, ssh_client_key: KeyPair, inbox: Path) -> None:
    notice = make_notice(title="东江<script>alert(1)</script>大桥")
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox, format="html"))

    deliver_one(adapter, notice)

    page = (inbox / "HY-GC-2016-001.v1.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "<h1>东江&lt;script&gt;alert(1)&lt;/script&gt;大桥</h1>" in page
    assert "<p>本招标项目已由河源市发展和改革局批准建设。</p>" in page


def test_html_template_autoescapes(sshd: SshServer, ssh_client_key: KeyPair, inbox: Path) -> None:
    notice = make_notice(title="<script>x</script>")
    template = "<html><body><h1>{{ notice.title }}</h1>{% for k, v in fields %}{{ k }}{% endfor %}"
    adapter = SftpInboxAdapter(
        CHANNEL, options(sshd, ssh_client_key, inbox, format="html", template=template)
    )

    deliver_one(adapter, notice)

    page = (inbox / "HY-GC-2016-001.v1.html").read_text(encoding="utf-8")
    assert page.startswith("<html><body><h1>&lt;script&gt;x&lt;/script&gt;</h1>公告标识")


def test_text_in_gb18030(sshd: SshServer, ssh_client_key: KeyPair, inbox: Path) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox, encoding="gb18030"))

    deliver_one(adapter, make_notice())

    raw = (inbox / "HY-GC-2016-001.v1.txt").read_bytes()
    assert raw.decode("gb18030").startswith("河源市东江大桥维修加固工程施工招标公告")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_docx_opens_and_is_deterministic(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    notice = make_notice()
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox, format="docx"))

    deliver_one(adapter, notice)

    raw = (inbox / "HY-GC-2016-001.v1.docx").read_bytes()
    document = docx.Document(io.BytesIO(raw))
    texts = [p.text for p in document.paragraphs]
    assert texts[0] == notice.title
    assert document.paragraphs[0].style is not None
    assert document.paragraphs[0].style.name == "Heading 1"
    assert "欢迎投标。" in texts
    cells = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows}
    assert cells["项目编号"] == "HYGC2016-001"
    assert cells["发布时间"] == "2016-03-01 09:00"
    assert document.core_properties.identifier == "HY-GC-2016-001.v1"
    assert {i.date_time for i in zipfile.ZipFile(io.BytesIO(raw)).infolist()} == {
        (1980, 1, 1, 0, 0, 0)
    }
    again: Payload = adapter.render(notice, context(notice))
    assert again.parts["HY-GC-2016-001.v1.docx"] == raw


# --- options -------------------------------------------------------------------


def test_options_need_exactly_one_host_key_pin(
    sshd: SshServer, ssh_client_key: KeyPair, tmp_path: Path
) -> None:
    (tmp_path / "known_hosts").write_text(sshd.known_hosts_line + "\n", encoding="ascii")
    with pytest.raises(ValidationError, match="exactly one of known_hosts or host_key"):
        options(sshd, ssh_client_key, "in", host_key=None)
    with pytest.raises(ValidationError, match="exactly one of known_hosts or host_key"):
        options(sshd, ssh_client_key, "in", known_hosts=str(tmp_path / "known_hosts"))
    with pytest.raises(ValidationError, match="SHA256 fingerprint"):
        options(sshd, ssh_client_key, "in", host_key="aa:bb:cc")


def test_unreadable_key_is_a_config_error_that_hides_the_key(
    sshd: SshServer, ssh_client_key: KeyPair
) -> None:
    broken = ssh_client_key.private_pem.replace("A", "B", 40)
    with pytest.raises(ValidationError, match="not a readable private key") as caught:
        options(sshd, ssh_client_key, "in", private_key=broken)
    assert "PRIVATE KEY" not in str(caught.value)


def test_docx_refuses_another_encoding(sshd: SshServer, ssh_client_key: KeyPair) -> None:
    with pytest.raises(ValidationError, match="always UTF-8"):
        options(sshd, ssh_client_key, "in", format="docx", encoding="gb18030")


def test_describe(sshd: SshServer, ssh_client_key: KeyPair) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, "incoming/nfrb"))
    assert adapter.describe() == f"sftp://{sshd.user}@127.0.0.1:{sshd.port}/~/incoming/nfrb"


def test_a_withdrawal_drops_a_withdrawal_notice_beside_the_notice(
    sshd: SshServer, ssh_client_key: KeyPair, inbox: Path
) -> None:
    adapter = SftpInboxAdapter(CHANNEL, options(sshd, ssh_client_key, inbox))
    notice = make_notice()
    ctx = DeliveryContext(
        channel=CHANNEL,
        idempotency_key=f"{notice.key}.{CHANNEL}.withdrawal",
        purpose=Purpose.withdrawal,
        previous=EarlierDelivery(1, DeliveryState.delivered, None, None),
        withdrawal=Withdrawal(notice.id, 1, "项目取消", 1456793400.0),
    )

    async def run() -> Receipt:
        try:
            return await adapter.send(adapter.render(notice, ctx), ctx)
        finally:
            await adapter.aclose()

    asyncio.run(run())
    assert listing(inbox) == [
        "HY-GC-2016-001.withdrawal.manifest.json",
        "HY-GC-2016-001.withdrawal.txt",
    ]
    text = (inbox / "HY-GC-2016-001.withdrawal.txt").read_text("utf-8")
    assert text.startswith("撤回公告：河源市东江大桥维修加固工程施工招标公告")
    assert "撤回原因：项目取消" in text
    manifest = json.loads((inbox / "HY-GC-2016-001.withdrawal.manifest.json").read_text("utf-8"))
    assert manifest["withdrawal"]["reason"] == "项目取消"
