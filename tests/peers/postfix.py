"""A real newspaper mail server: Debian's Postfix 3.7 on loopback, SASL through Dovecot.

Plain SMTP on 127.0.0.1:25; submission on 127.0.0.1:587 with STARTTLS
required and SASL (PLAIN, LOGIN) checked by a Dovecot of our own that only
serves Postfix's auth socket. The certificate is Debian's snakeoil one
(``make-ssl-cert``), named after the machine's host name, not 127.0.0.1.
Mail for ``@example.test`` is delivered by Postfix's virtual agent into a
Maildir per mailbox under a folder of the run; ``busy@example.test`` is
refused with ``452 4.2.2 Mailbox full``.

This configures the machine's one Postfix (CI runs as root) and stops it
afterwards. scripts/test installs the packages; a missing piece is a test
failure that says what to install, never a skip.
"""

from __future__ import annotations

import contextlib
import email
import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.peers.wordpress import PeerSetupError

PACKAGES = "postfix dovecot-core ssl-cert"
CERT = Path("/etc/ssl/certs/ssl-cert-snakeoil.pem")
KEY = Path("/etc/ssl/private/ssl-cert-snakeoil.key")
DOMAIN = "example.test"
MAILBOXES = ("hywb", "nfrb")
SASL_USER = "hywb-submit"
SASL_PASSWORD = "Sasl-Pa55-hywb"
BUSY = f"busy@{DOMAIN}"
VMAIL_UID = 65534  # nobody: Postfix's virtual agent never delivers as root
# Held while a process has the machine's Postfix configured: a second one (another pytest-xdist
# worker, another run) waits for it instead of reconfiguring Postfix under the first one's tests.
LOCK = Path("/var/tmp/syndicate-postfix.lock")
LOCK_WAIT = 90.0


def _run(*args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise PeerSetupError(f"Postfix peer: {args[0]} not found; install {PACKAGES}") from None
    if done.returncode != 0:
        raise PeerSetupError(
            f"Postfix peer: {' '.join(args)} failed: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


@dataclass
class MailServer:
    """The configured Postfix and Dovecot; ``wait_for`` reads what a mailbox received."""

    root: Path
    host: str = "127.0.0.1"
    plain_port: int = 25
    submission_port: int = 587
    dovecot: subprocess.Popen[bytes] | None = None
    # Mailboxes and Dovecot's files live outside the test's temporary folder: pytest keeps
    # that private to its user, and the virtual agent (as nobody) and Dovecot's auth
    # process must reach them.
    home: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="syndicate-mail-", dir="/var/tmp"))
    )

    @property
    def maildir_base(self) -> Path:
        return self.home / "vmail"

    @property
    def server_name(self) -> str:
        """The name the certificate carries (the machine's host name)."""
        return socket.gethostname()

    @property
    def log_path(self) -> Path:
        return self.home / "postfix.log"

    def address(self, mailbox: str) -> str:
        return f"{mailbox}@{DOMAIN}"

    # --- life cycle -----------------------------------------------------------

    def start(self) -> None:
        for tool in ("postfix", "postconf", "postmap", "dovecot"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise PeerSetupError(f"Postfix peer: {tool} not found; install {PACKAGES}")
        if not CERT.exists() or not KEY.exists():
            _run("make-ssl-cert", "generate-default-snakeoil", "--force-overwrite")
        self.root.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o755)
        self.maildir_base.mkdir()
        os.chown(self.maildir_base, VMAIL_UID, VMAIL_UID)
        self._stop_postfix()
        self._dovecot()
        self._postfix()

    def stop(self) -> None:
        self._stop_postfix()
        if self.dovecot is not None:
            self.dovecot.terminate()
            try:
                self.dovecot.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.dovecot.kill()
                self.dovecot.wait()
            self.dovecot = None
        shutil.rmtree(self.home, ignore_errors=True)

    def _stop_postfix(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(["postfix", "stop"], capture_output=True, timeout=60)
        # postfix stop returns before the listeners have closed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _listening(self.host, self.plain_port):
            time.sleep(0.05)

    def _dovecot(self) -> None:
        passwd = self.home / "dovecot.passwd"
        passwd.write_text(f"{SASL_USER}:{{PLAIN}}{SASL_PASSWORD}\n", encoding="ascii")
        passwd.chmod(0o644)
        conf = self.home / "dovecot.conf"
        conf.write_text(
            f"""protocols =
base_dir = {self.home / "dovecot-run"}
state_dir = {self.home / "dovecot-state"}
log_path = {self.root / "dovecot.log"}
ssl = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = static
  args = uid={VMAIL_UID} gid={VMAIL_UID} home=/nonexistent
}}
service auth {{
  unix_listener /var/spool/postfix/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
""",
            encoding="ascii",
        )
        with (self.root / "dovecot.out").open("ab") as out:
            self.dovecot = subprocess.Popen(
                ["dovecot", "-F", "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        socket_path = Path("/var/spool/postfix/private/auth")
        deadline = time.monotonic() + 15
        while not socket_path.is_socket():
            if self.dovecot.poll() is not None or time.monotonic() > deadline:
                out = (self.root / "dovecot.out").read_text(errors="replace")
                raise PeerSetupError(f"Postfix peer: dovecot did not start: {out[-1000:]}")
            time.sleep(0.05)

    def _postfix(self) -> None:
        mailboxes = Path("/etc/postfix/syndicate_mailboxes")
        mailboxes.write_text(
            "".join(f"{self.address(m)} {m}/\n" for m in MAILBOXES), encoding="ascii"
        )
        access = Path("/etc/postfix/syndicate_rcpt_access")
        access.write_text(f"{BUSY} 452 4.2.2 Mailbox full\n", encoding="ascii")
        _run(
            "postconf",
            "-e",
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            f"myhostname = {self.server_name}",
            "mydestination = localhost",
            "mynetworks = 127.0.0.0/8",
            f"maillog_file_prefixes = /var, /dev/stdout, {self.home}",
            f"maillog_file = {self.log_path}",
            f"virtual_mailbox_domains = {DOMAIN}",
            f"virtual_mailbox_base = {self.maildir_base}",
            f"virtual_mailbox_maps = hash:{mailboxes}",
            f"virtual_uid_maps = static:{VMAIL_UID}",
            f"virtual_gid_maps = static:{VMAIL_UID}",
            "virtual_minimum_uid = 100",
            f"smtpd_recipient_restrictions = check_recipient_access hash:{access}, "
            "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination",
            f"smtpd_tls_cert_file = {CERT}",
            f"smtpd_tls_key_file = {KEY}",
            "smtpd_tls_security_level = may",
            "smtpd_sasl_type = dovecot",
            "smtpd_sasl_path = private/auth",
            "message_size_limit = 20480000",
        )
        _run("postmap", str(mailboxes))
        _run("postmap", str(access))
        _run("postconf", "-F", "smtp/inet/chroot=n")
        _run("postconf", "-M", "submission/inet = submission inet n - n - - smtpd")
        _run(
            "postconf",
            "-P",
            # (no spaces: master.cf -o values cannot hold them)
            "submission/inet/syslog_name=postfix/submission",
            "submission/inet/smtpd_tls_security_level=encrypt",
            "submission/inet/smtpd_sasl_auth_enable=yes",
            "submission/inet/smtpd_tls_auth_only=yes",
            "submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject",
        )
        _run("postfix", "check")
        # postsuper writes the log as the postfix user.
        self.log_path.touch()
        owner = pwd.getpwnam("postfix")
        os.chown(self.log_path, owner.pw_uid, owner.pw_gid)
        # Mail an earlier run left deferred in the queue would turn up in this run's mailboxes.
        _run("postsuper", "-d", "ALL")
        _run("postfix", "start")
        deadline = time.monotonic() + 20
        while not (
            _listening(self.host, self.plain_port) and _listening(self.host, self.submission_port)
        ):
            if time.monotonic() > deadline:
                raise PeerSetupError(f"Postfix peer: not listening on 25 and 587:\n{self.log()}")
            time.sleep(0.05)

    # --- reading what arrived ---------------------------------------------------

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]

    def maildir(self, mailbox: str) -> list[Path]:
        new = self.maildir_base / mailbox / "new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def wait_for(self, mailbox: str, message_id: str, timeout: float = 30.0) -> EmailMessage:
        """The delivered message with ``message_id``, read from the mailbox's Maildir."""
        deadline = time.monotonic() + timeout
        while True:
            for path in self.maildir(mailbox):
                message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
                assert isinstance(message, EmailMessage)
                if str(message["Message-ID"]) == message_id:
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{message_id} never reached {mailbox}'s Maildir; Postfix log:\n{self.log()}"
                )
            time.sleep(0.05)


def _listening(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    """The machine's Postfix for this process alone, or PeerSetupError after LOCK_WAIT."""
    with LOCK.open("a") as held:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PeerSetupError(
                        f"Postfix peer: another process holds {LOCK} (the machine has one "
                        "Postfix; under pytest-xdist its tests belong on one worker: ONE_WORKER in tests/conftest.py)"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(held, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_postfix(root: Path) -> Iterator[MailServer]:
    with machine_lock():
        server = MailServer(root)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def postfix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    """The machine's Postfix, configured for the run and stopped after it."""
    try:
        context = running_postfix(tmp_path_factory.mktemp("postfix"))
        server = context.__enter__()
    except PeerSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        context.__exit__(None, None, None)
