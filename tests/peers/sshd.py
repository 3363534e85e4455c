"""SSH peers: a real OpenSSH ``sshd`` on a free loopback port with a host key made at test time.

The server runs in the foreground (``-D -e``) from a temporary ``sshd_config``:
its own ed25519 host key, an ``AuthorizedKeysFile`` in the temporary folder,
``Subsystem sftp internal-sftp`` (optionally read-only), ``StrictModes no``.
It logs at VERBOSE to a file the tests read to count logins.

Logins are as the user running the tests (root in CI) by key. Password
authentication is switched on so a wrong password is refused by the real
server, but no test logs in with a password: that would need a throwaway
system account or root's password, neither of which a test should touch.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
LOGIN_OK = "Accepted publickey for "


@dataclass(frozen=True)
class KeyPair:
    """An SSH key pair on disk; ``private_pem`` is the private key text."""

    path: Path
    private_pem: str
    public_line: str
    fingerprint: str


def make_key(path: Path, comment: str = "syndicate-test") -> KeyPair:
    """A fresh unencrypted ed25519 key pair made with ssh-keygen."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        ["ssh-keygen", "-lf", f"{path}.pub"], check=True, capture_output=True, text=True
    ).stdout
    return KeyPair(
        path=path,
        private_pem=path.read_text(encoding="ascii"),
        public_line=Path(f"{path}.pub").read_text(encoding="ascii").strip(),
        fingerprint=listing.split()[1],
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class SshServer:
    """One sshd instance; ``stop`` ends the listener and every session it forked."""

    root: Path
    client_key: KeyPair
    read_only: bool = False
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=lambda: pwd.getpwuid(os.getuid()).pw_name)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = make_key(self.root / "ssh_host_ed25519_key", "syndicate-test-host")
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text(self.client_key.public_line + "\n", encoding="ascii")
        self.log_path = self.root / "sshd.log"
        self.config_path = self.root / "sshd_config"
        sftp = "internal-sftp -R" if self.read_only else "internal-sftp"
        self.config_path.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.host}:{self.port}",
                    f"HostKey {self.host_key.path}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PermitRootLogin yes",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication yes",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "UseDNS no",
                    "LogLevel VERBOSE",
                    "MaxStartups 50",
                    f"Subsystem sftp {sftp}",
                    "",
                ]
            ),
            encoding="ascii",
        )

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line for this server, as ssh-keyscan would give it."""
        kind, blob = self.host_key.public_line.split()[:2]
        return f"[{self.host}]:{self.port} {kind} {blob}"

    def start(self) -> None:
        # sshd refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        # Closed here whatever happens: a missing sshd must fail the test, not leak the file.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 15
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited at start:\n{self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"sshd did not listen on {self.port}:\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the listener and its sessions, so every client connection drops."""
        if self.process is None:
            return
        sessions = _descendants(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):  # it ended with its listener
                os.kill(pid, signal.SIGTERM)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logins(self) -> int:
        """How many SSH logins the server has accepted so far."""
        return self.log().count(LOGIN_OK)


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """The key pair the tests log in with."""
    return make_key(tmp_path_factory.mktemp("client") / "id_ed25519", "syndicate-client")


@pytest.fixture
def ssh_keygen(tmp_path: Path) -> Callable[[str], KeyPair]:
    """Makes more key pairs (a stranger's client key, another host's key) by name."""

    def make(name: str) -> KeyPair:
        (tmp_path / "keys").mkdir(exist_ok=True)
        return make_key(tmp_path / "keys" / name, name)

    return make


@pytest.fixture
def sshd(tmp_path: Path, ssh_client_key: KeyPair) -> Iterator[SshServer]:
    """A running sshd that accepts ``ssh_client_key``; stopped after the test."""
    server = SshServer(tmp_path / "sshd", ssh_client_key)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sshd_read_only(tmp_path: Path, ssh_client_key: KeyPair) -> Iterator[SshServer]:
    """An sshd whose SFTP subsystem refuses every write (``internal-sftp -R``)."""
    server = SshServer(tmp_path / "sshd-ro", ssh_client_key, read_only=True)
    server.start()
    yield server
    server.stop()
