"""A loopback SFTP server that serves one folder: the demo's newspaper inboxes.

Built on paramiko's server side. It listens on 127.0.0.1 (a free port by
default), generates an Ed25519 host key when it starts (its fingerprint,
``SHA256:...``, is what a client pins), lets in one user with one public key,
and serves a root folder as ``/``: paths that would climb out of it are
refused. It supports what a file drop needs (open, read, write, stat, list,
mkdir, remove, rename, ``posix-rename@openssh.com``), not symlinks. It is
demo and development tooling, not a production server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import logging
import os
import posixpath
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_PERMISSION_DENIED

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

# Server-side SSH chatter (a client hanging up, a refused key) is not the demo's output.
_LOG = "syndicate.demo.sftp"
logging.getLogger(_LOG).addHandler(logging.NullHandler())


def generate_key() -> tuple[paramiko.Ed25519Key, str]:
    """A new Ed25519 key as paramiko uses it, and its private half in OpenSSH format."""
    private = ed25519.Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    return paramiko.Ed25519Key.from_private_key(io.StringIO(text)), text


def fingerprint(key: paramiko.PKey) -> str:
    """A public key's fingerprint as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class SftpInbox:
    """An SFTP server on 127.0.0.1 in a background thread, serving ``root`` as ``/``."""

    def __init__(
        self,
        root: Path,
        *,
        username: str,
        authorized_key: paramiko.PKey,
        port: int = 0,
    ) -> None:
        self.root = root.resolve()
        self.username = username
        self._authorized = authorized_key
        self._port = port
        self.host_key, _ = generate_key()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def host_key_fingerprint(self) -> str:
        """What a client pins: ``SHA256:`` and the base64 digest of the host key."""
        return fingerprint(self.host_key)

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the SFTP inbox is not started")
        port: int = self._listener.getsockname()[1]
        return port

    def url(self, path: str = "/") -> str:
        """An ``sftp://`` URL of ``path`` on this server."""
        return f"sftp://{self.username}@127.0.0.1:{self.port}{path}"

    def start(self) -> SftpInbox:
        """Bind and accept connections; returns self."""
        self.root.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(16)
        listener.settimeout(0.1)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="sftp-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()

    def __enter__(self) -> SftpInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            transport = paramiko.Transport(sock)
            transport.set_log_channel(_LOG)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler(
                "sftp", paramiko.SFTPServer, sftp_si=_RootedSftp, root=self.root
            )
            with self._lock:
                self._transports = [t for t in self._transports if t.is_active()]
                self._transports.append(transport)
            try:
                transport.start_server(server=_Gate(self.username, self._authorized))
            except (paramiko.SSHException, EOFError, OSError):
                # A client that hangs up mid-handshake costs nothing but its own connection.
                transport.close()


class _Gate(paramiko.ServerInterface):
    """Lets in one user with one public key, for SFTP sessions only."""

    def __init__(self, username: str, key: paramiko.PKey) -> None:
        self._username = username
        self._key = key

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == self._username and key.asbytes() == self._key.asbytes():
            return AUTH_SUCCESSFUL
        return AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Escape(Exception):
    """A path that would leave the served folder."""


class _Handle(paramiko.SFTPHandle):
    """An open file, read and written at explicit offsets."""

    def __init__(self, fd: int, flags: int) -> None:
        super().__init__(flags)
        self._fd = fd

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self._fd, length, offset)
        except OSError as exc:
            return _status(exc)

    def write(self, offset: int, data: ReadableBuffer) -> int:
        try:
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            return _status(exc)
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self._fd))
        except OSError as exc:
            return _status(exc)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK  # modes and times from the client are not kept


class _RootedSftp(paramiko.SFTPServerInterface):
    """The SFTP operations, on paths jailed inside one folder."""

    def __init__(self, server: paramiko.ServerInterface, *, root: Path) -> None:
        super().__init__(server)
        self._root = root

    def _local(self, path: str) -> Path:
        """The local path behind a client's path; ``/`` is the root, ``..`` may not leave it."""
        parts: list[str] = []
        for part in path.replace("\\", "/").split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    raise _Escape(path)
                parts.pop()
            else:
                parts.append(part)
        local = self._root.joinpath(*parts)
        # A link placed inside the folder must not lead out of it either.
        if not local.resolve().is_relative_to(self._root):
            raise _Escape(path)
        return local

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath(posixpath.join("/", path.replace("\\", "/")))

    def open(
        self, path: str, flags: int, attr: paramiko.SFTPAttributes
    ) -> paramiko.SFTPHandle | int:
        try:
            fd = os.open(self._local(path), flags, 0o644)
        except _Escape:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _status(exc)
        return _Handle(fd, flags)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        try:
            folder = self._local(path)
            entries = []
            for child in sorted(folder.iterdir()):
                attr = paramiko.SFTPAttributes.from_stat(child.lstat(), child.name)
                entries.append(attr)
        except _Escape:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _status(exc)
        return entries

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(self._local(path).stat())
        except _Escape:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _status(exc)

    lstat = stat

    def remove(self, path: str) -> int:
        return self._do(lambda: self._local(path).unlink())

    def rename(self, oldpath: str, newpath: str) -> int:
        def rename() -> None:
            target = self._local(newpath)
            if target.exists():
                # SFTP v3 rename must not overwrite; posix-rename does.
                raise FileExistsError(17, "file exists", str(target))
            self._local(oldpath).rename(target)

        return self._do(rename)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._do(lambda: os.replace(self._local(oldpath), self._local(newpath)))

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._do(lambda: self._local(path).mkdir())

    def rmdir(self, path: str) -> int:
        return self._do(lambda: self._local(path).rmdir())

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        # Modes and times from the client are not kept; the file must exist all the same.
        return self._do(lambda: self._local(path).stat())

    @staticmethod
    def _do(action: Callable[[], object]) -> int:
        try:
            action()
        except _Escape:
            return SFTP_PERMISSION_DENIED
        except OSError as exc:
            return _status(exc)
        return SFTP_OK


def _status(exc: OSError) -> int:
    """The SFTP status for an OS error: no such file, permission denied, or failure."""
    if exc.errno is None:
        return SFTP_FAILURE
    return paramiko.SFTPServer.convert_errno(exc.errno)
