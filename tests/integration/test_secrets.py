"""No secret ever leaves the configuration: not in output, not in the ledger, not in a log line.

Every secret-bearing field of every adapter gets a recognisable value; the
channels deliver for real (HttpSink, OpenSSH sshd, aiosmtpd on loopback),
some succeed and some fail (refused credentials, 401, 500, a closed port).
Then everything syndicate wrote is searched for each secret, plain and
base64 / hex / URL-encoded.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import pytest

from syndicate.demo.http_sink import HttpSink, Reply
from tests.conftest import BASE_NOTICE
from tests.peers.echo import EchoPeer

if TYPE_CHECKING:
    from tests.peers.http import TlsFiles
    from tests.peers.smtp import SmtpPeer
    from tests.peers.sshd import KeyPair, SshServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "S_CMS_BEARER": "SECRET-CMS-BEARER-7f3a9c01",
    "S_CMS_BASIC": "SECRET-CMS-BASIC-7f3a9c02",
    "S_CMS_HMAC": "SECRET-CMS-HMAC-7f3a9c03",
    "S_CMS_HMAC_NEXT": "SECRET-CMS-HMACNEXT-7f3a9c04",
    "S_LAND": "SECRET-LAND-7f3a9c05",
    "S_SFTP_PASSWORD": "SECRET-SFTP-PW-7f3a9c06",
    "S_SFTP_PASSPHRASE": "SECRET-SFTP-PASSPHRASE-7f3a9c07",
    "S_SMTP_WRONG": "SECRET-SMTP-7f3a9c08",
    "S_LED_SFTP": "SECRET-LED-SFTP-7f3a9c09",
    # Sent to a peer that echoes every request back (tests/peers/echo.py).
    "S_ECHO_BEARER": "SECRET-ECHO-BEARER-7f3a9c11",
    "S_ECHO_QUERY": "SECRET-ECHO-QUERY-7f3a9c12",
    "S_ECHO_HEADER": "SECRET-ECHO-HEADER-7f3a9c13",
    "S_ECHO_BASIC": "SECRET-ECHO-BASIC-7f3a9c14",
    "S_ECHO_PROXY": "SECRET-ECHO-PROXY-7f3a9c15",
    "S_ECHO_HMAC": "SECRET-ECHO-HMAC-7f3a9c16",
    "S_ECHO_PAD": "SECRET-ECHO-PAD-7f3a9c17",
}
ECHO_USER = "echo-user"
PROXY_USER = "proxy-user"
TOKEN_FILE_SECRET = "SECRET-CMS-TOKENFILE-7f3a9c10"
LAND_USER = "hy441600"
CMS_USER = "ggzy"
# The peer's own account (tests/peers/smtp.py); looked up once the plugin is loaded.
SMTP_USER = "hywb-submit"


def forms(secret: str) -> set[str]:
    """The secret and the encodings it could leak in."""
    raw = secret.encode()
    return {
        secret,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        quote(secret, safe=""),
        quote_plus(secret),
    }


def all_forms() -> dict[str, str]:
    found: dict[str, str] = {}
    from tests.peers.smtp import SMTP_PASSWORD

    for secret in [*SECRETS.values(), TOKEN_FILE_SECRET, SMTP_PASSWORD]:
        for form in forms(secret):
            found[form] = secret
    # What an Authorization: Basic header of ours would carry.
    for user, password in (
        (CMS_USER, SECRETS["S_CMS_BASIC"]),
        (LAND_USER, SECRETS["S_LAND"]),
        (ECHO_USER, SECRETS["S_ECHO_BASIC"]),
        (PROXY_USER, SECRETS["S_ECHO_PROXY"]),
    ):
        found[base64.b64encode(f"{user}:{password}".encode()).decode()] = password
    # The passphrase-protected key's body is a secret too, but it is encrypted at rest.
    return found


def construction(i: int) -> dict[str, object]:
    data = copy.deepcopy(BASE_NOTICE)
    data["id"] = f"HYZB-2026-{i:04d}"
    data["publish_at"] = "2024-01-01T09:00:00+08:00"
    return data


def land() -> dict[str, object]:
    data = json.loads((ROOT / "examples/notices/land-transfer.json").read_text(encoding="utf-8"))
    data.pop("attachments", None)
    data["publish_at"] = "2024-01-01T09:00:00+08:00"
    return data


def encrypted_copy(key: KeyPair, folder: Path, passphrase: str) -> Path:
    """The client key, encrypted with ``passphrase`` (the same key, so sshd accepts it)."""
    path = folder / "id_ed25519_encrypted"
    path.write_text(key.private_pem, encoding="ascii")
    path.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "", "-N", passphrase, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    assert passphrase.encode() not in path.read_bytes()
    return path


def config(
    folder: Path,
    sink: HttpSink,
    closed: int,
    sshd: SshServer,
    smtp: SmtpPeer,
    tls: TlsFiles,
    key_file: Path,
    echo: EchoPeer,
) -> str:
    sftp_common = f"""
    host: 127.0.0.1
    port: {sshd.port}
    username: {sshd.user}
    host_key: {sshd.host_key.fingerprint}
    connect_timeout: 5s"""
    mail_common = f"""
    adapter: email_inbox
    host: 127.0.0.1
    port: {smtp.port}
    security: starttls
    ca_file: {tls.ca_file}
    username: {SMTP_USER}
    from_address: ggzy@heyuan.gov.cn
    to: [tougao@hywb.cn]
    socket_timeout: 5s"""
    (folder / "inbox-ok").mkdir()
    (folder / "inbox-pw").mkdir()
    (folder / "led-remote").mkdir()
    return f"""
store: {{url: ledger.db}}
worker: {{poll_interval: 20ms, grace: 5s, lease: 30s}}
defaults:
  timeout: 10s
  retry: {{max_attempts: 2, initial_delay: 50ms, jitter: 0s}}
channels:
  cms-bearer-ok:
    adapter: cms_http
    url: {sink.url}/ok
    auth: {{type: bearer, token: "${{S_CMS_BEARER}}"}}
    allow_insecure_transport: true
  cms-basic-401:
    adapter: cms_http
    url: {sink.url}/denied
    auth: {{type: basic, username: {CMS_USER}, password: "${{S_CMS_BASIC}}"}}
    allow_insecure_transport: true
  cms-hmac-500:
    adapter: cms_http
    url: {sink.url}/broken
    auth:
      type: hmac
      key_id: syndicate-2026
      secret: ${{S_CMS_HMAC}}
      next_secret: ${{S_CMS_HMAC_NEXT}}
    allow_insecure_transport: true
  cms-hmac-ok:
    adapter: cms_http
    format: form
    url: {sink.url}/signed
    auth: {{type: hmac, key_id: k1, secret: "${{S_CMS_HMAC}}", next_secret: "${{S_CMS_HMAC_NEXT}}"}}
    allow_insecure_transport: true
  cms-refused:
    adapter: cms_http
    url: http://127.0.0.1:{closed}/nobody
    auth: {{type: bearer, token_file: secrets/cms-token}}
    allow_insecure_transport: true
  cms-echo-fail:
    adapter: cms_http
    url: "{echo.url}/fail?api_key=${{S_ECHO_QUERY}}"
    auth: {{type: bearer, token: "${{S_ECHO_BEARER}}"}}
    allow_insecure_transport: true
    headers: {{X-Api-Key: "${{S_ECHO_HEADER}}"}}
  cms-echo-ok:
    adapter: cms_http
    url: {echo.url}/ok
    auth: {{type: basic, username: {ECHO_USER}, password: "${{S_ECHO_BASIC}}"}}
    allow_insecure_transport: true
  cms-echo-proxy:
    adapter: cms_http
    url: http://cms.invalid/fail
    proxy: "http://{PROXY_USER}:${{S_ECHO_PROXY}}@127.0.0.1:{echo.port}"
    auth: {{type: hmac, key_id: k2, secret: "${{S_ECHO_HMAC}}"}}
    allow_insecure_transport: true
  land-echo-pad:
    adapter: land_market
    url: {echo.url}/pad
    auth: {{type: bearer, token: "${{S_ECHO_PAD}}"}}
    allow_insecure_transport: true
  land-ok:
    adapter: land_market
    url: {sink.url}/land
    auth: {{type: basic, username: {LAND_USER}, password: "${{S_LAND}}"}}
    allow_insecure_transport: true
  land-500:
    adapter: land_market
    url: {sink.url}/land-broken
    auth: {{type: basic, username: {LAND_USER}, password: "${{S_LAND}}"}}
    allow_insecure_transport: true
  sftp-wrong-password:
    adapter: sftp_inbox{sftp_common}
    password: ${{S_SFTP_PASSWORD}}
    directory: {folder / "inbox-pw"}
  sftp-key-ok:
    adapter: sftp_inbox{sftp_common}
    private_key_file: {key_file}
    passphrase: ${{S_SFTP_PASSPHRASE}}
    directory: {folder / "inbox-ok"}
  mail-ok:{mail_common}
    password: ${{S_SMTP_RIGHT}}
  mail-wrong-password:{mail_common}
    password: ${{S_SMTP_WRONG}}
  led:
    adapter: led_feed
    screens:
      - name: hall
        columns: 32
        lines: 2
        path: {{rss: feeds/hall.rss}}
        link: https://ggzy.heyuan.gov.cn/
    sftp:{sftp_common.replace(chr(10) + "    ", chr(10) + "      ")}
      password: ${{S_LED_SFTP}}
      directory: {folder / "led-remote"}
routes:
  - match: {{category: [construction]}}
    channels: [cms-bearer-ok, cms-basic-401, cms-hmac-500, cms-hmac-ok, cms-refused,
               cms-echo-fail, cms-echo-ok, cms-echo-proxy,
               sftp-wrong-password, sftp-key-ok, mail-ok, mail-wrong-password, led]
  - match: {{category: [land_mineral]}}
    channels: [land-ok, land-500, land-echo-pad, led]
"""


@pytest.fixture
def echo() -> Iterator[EchoPeer]:
    with EchoPeer() as peer:
        yield peer


# The worker with Python's logging at DEBUG for every logger, to standard error.
DEBUG_RUN = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "sys.argv = ['syndicate', *sys.argv[1:]]; from syndicate.cli import main; main()"
)


def syndicate(
    *args: str, cwd: Path, env: dict[str, str], stdin: str | None = None, debug: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", DEBUG_RUN] if debug else [sys.executable, "-m", "syndicate"]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "S_"))}
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        input=stdin,
        env={**base, **env, "COLUMNS": "300"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.timeout(300)
def test_no_secret_appears_anywhere_syndicate_writes(
    tmp_path: Path,
    http_sink: HttpSink,
    closed_port: int,
    sshd: SshServer,
    ssh_client_key: KeyPair,
    smtp_starttls: SmtpPeer,
    smtp_tls_files: TlsFiles,
    echo: EchoPeer,
) -> None:
    folder = tmp_path / "site"
    (folder / "secrets").mkdir(parents=True)
    (folder / "secrets" / "cms-token").write_text(TOKEN_FILE_SECRET + "\n", encoding="utf-8")
    key_file = encrypted_copy(ssh_client_key, folder / "secrets", SECRETS["S_SFTP_PASSPHRASE"])
    (folder / "channels.yaml").write_text(
        config(folder, http_sink, closed_port, sshd, smtp_starttls, smtp_tls_files, key_file, echo),
        encoding="utf-8",
    )
    http_sink.script("/denied", [Reply(401)] * 5)
    http_sink.script("/broken", [Reply(500)] * 10)
    http_sink.script("/land-broken", [Reply(500)] * 10)
    from tests.peers.smtp import SMTP_PASSWORD
    from tests.peers.smtp import SMTP_USER as PEER_USER

    assert PEER_USER == SMTP_USER
    env = {**SECRETS, "S_SMTP_RIGHT": SMTP_PASSWORD}
    outputs: dict[str, str] = {}

    def record(name: str, result: subprocess.CompletedProcess[str]) -> None:
        outputs[f"{name} stdout"] = result.stdout
        outputs[f"{name} stderr"] = result.stderr
        assert "Traceback" not in result.stdout + result.stderr, name

    checked = syndicate("check", cwd=folder, env=env)
    record("check", checked)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    notices = "\n".join(
        json.dumps(n, ensure_ascii=False) for n in (construction(1), construction(2), land())
    )
    enqueued = syndicate("enqueue", "-", cwd=folder, env=env, stdin=notices)
    record("enqueue", enqueued)
    assert enqueued.returncode == 0, enqueued.stderr

    for i in range(3):  # the first attempts, then the scheduled retries
        ran = syndicate("run", "--once", cwd=folder, env=env, debug=True)
        record(f"run {i}", ran)
        # 5: deliveries ended failed or dead in this run, which this scenario means to cause.
        assert ran.returncode in (0, 5), ran.stderr
        time.sleep(0.2)

    for args in (("status",), ("status", "--json"), ("log",), ("log", "--json")):
        result = syndicate(*args, cwd=folder, env=env)
        record(" ".join(args), result)
        assert result.returncode == 0, result.stderr
    for notice_id, channels in (
        ("HYZB-2026-0001", ("cms-bearer-ok", "cms-basic-401", "cms-hmac-500", "cms-refused")),
        ("HYZB-2026-0001", ("sftp-key-ok", "mail-ok", "led")),
        (str(land()["id"]), ("land-ok", "land-500")),
    ):
        for channel in channels:
            result = syndicate("preview", notice_id, "--channel", channel, cwd=folder, env=env)
            record(f"preview {channel}", result)
            assert result.returncode == 0, result.stderr

    # The deliveries really did succeed and fail the way this test needs.
    status = json.loads(outputs["status --json stdout"])
    states = {
        (n["id"], ch): cell["state"]
        for n in status["notices"]
        for ch, cell in n["channels"].items()
    }
    first = "HYZB-2026-0001"
    assert states[(first, "cms-bearer-ok")] == "delivered"
    assert states[(first, "cms-hmac-ok")] == "delivered"
    assert states[(first, "sftp-key-ok")] == "delivered"
    assert states[(first, "mail-ok")] == "delivered"
    assert states[(str(land()["id"]), "land-ok")] == "delivered"
    assert states[(first, "cms-echo-ok")] == "delivered"
    for channel in ("cms-echo-fail", "cms-echo-proxy"):
        assert states[(first, channel)] in {"failed", "dead"}, channel
    assert states[(str(land()["id"]), "land-echo-pad")] in {"failed", "dead"}
    # The peer really was sent (and so echoed) each secret, in some form.
    echoed = "\n".join(echo.requests)
    for name in ("S_ECHO_BEARER", "S_ECHO_QUERY", "S_ECHO_HEADER", "S_ECHO_PAD"):
        assert SECRETS[name] in echoed, name
    for user, name in ((ECHO_USER, "S_ECHO_BASIC"), (PROXY_USER, "S_ECHO_PROXY")):
        pair = base64.b64encode(f"{user}:{SECRETS[name]}".encode()).decode()
        assert pair in echoed, name
    for channel in (
        "cms-basic-401",
        "cms-hmac-500",
        "cms-refused",
        "sftp-wrong-password",
        "mail-wrong-password",
        "led",
    ):
        assert states[(first, channel)] in {"failed", "dead"}, channel
    assert states[(str(land()["id"]), "land-500")] in {"failed", "dead"}
    assert len(smtp_starttls.received) == 2  # two notices through mail-ok
    assert sorted(p.suffix for p in (folder / "inbox-ok").iterdir())  # files landed

    ledger = b"".join(p.read_bytes() for p in sorted(folder.glob("ledger.db*")))
    assert b"HYZB-2026-0001" in ledger
    leaks = []
    for form, secret in all_forms().items():
        for name, text in outputs.items():
            if form in text:
                leaks.append(f"{secret!r} (as {form!r}) in {name}")
        if form.encode() in ledger:
            leaks.append(f"{secret!r} (as {form!r}) in the ledger file")
        for path in folder.rglob("*"):
            if (
                path.is_file()
                and "secrets" not in path.parts
                and form.encode() in path.read_bytes()
            ):
                leaks.append(f"{secret!r} (as {form!r}) in {path.relative_to(folder)}")
    assert leaks == []
