"""A small SFTP transport shared by the adapters that drop files on a server.

``SftpSettings`` is the options block (host, credentials, pinned host key);
``SftpConnection`` keeps one SSH connection per channel, re-opens it when it
has dropped, and uploads files atomically: each file is written under a
temporary dot-name in the target directory and renamed into place with
``posix-rename@openssh.com``, so a reader of the inbox never sees a partial
file.

The host key is checked before any credential or file byte is sent: an
unknown or changed key is a ``PermanentDeliveryError``.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import posixpath
import re
import secrets
import socket
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.ssh_exception import IncompatiblePeer
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from syndicate.adapter import Options, config_relative
from syndicate.config import Duration
from syndicate.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")
_RSA_TYPES = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]


class SftpSettings(Options):
    """Where an SFTP drop lives and how to log in; the host key must be pinned."""

    host: str = Field(min_length=1, max_length=255, pattern=r"^[^\s/@]+$")
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\s@:/]+$")
    password: SecretStr | None = None
    private_key: SecretStr | None = Field(default=None, description="private key text (PEM)")
    passphrase: SecretStr | None = Field(default=None, description="passphrase of private_key")
    known_hosts: Path | None = Field(
        default=None, description="known_hosts file; relative to the config file's folder"
    )
    host_key: str | None = Field(
        default=None, description="pinned host key fingerprint, 'SHA256:...' as ssh-keygen -lf"
    )
    connect_timeout: Duration = Field(default=10.0, gt=0)
    io_timeout: Duration = Field(default=60.0, gt=0, description="longest wait for one reply")

    @field_validator("known_hosts")
    @classmethod
    def _known_hosts_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        value = config_relative(value, info)
        try:
            keys = paramiko.HostKeys(str(value))
        except OSError as exc:
            raise ValueError(f"cannot read known_hosts file {value}: {exc.strerror}") from None
        except Exception:
            raise ValueError(f"{value} is not a known_hosts file") from None
        if not keys.keys():
            raise ValueError(f"{value} holds no host keys")
        return value

    @field_validator("host_key")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _FINGERPRINT.match(value):
            raise ValueError(
                "expected a SHA256 fingerprint as `ssh-keygen -lf` prints it, e.g. SHA256:nThb…"
            )
        return value.rstrip("=")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.known_hosts is None) == (self.host_key is None):
            raise ValueError("give exactly one of known_hosts or host_key to pin the server's key")
        if self.password is None and self.private_key is None:
            raise ValueError("give a password or a private_key (or private_key_file)")
        if self.passphrase is not None and self.private_key is None:
            raise ValueError("passphrase is given but private_key is not")
        self.load_private_key()  # a key that cannot be read is a config error, not a delivery one
        return self

    def load_private_key(self) -> paramiko.PKey | None:
        """The client key as paramiko wants it; ValueError names the problem, never the key."""
        if self.private_key is None:
            return None
        text = self.private_key.get_secret_value().strip() + "\n"
        password = None if self.passphrase is None else self.passphrase.get_secret_value()
        data = text.encode("utf-8")
        try:
            try:
                loaded: Any = serialization.load_ssh_private_key(data, _pw(password))
            except ValueError:
                loaded = serialization.load_pem_private_key(data, _pw(password))
        except TypeError:
            # cryptography says TypeError for a missing or an unneeded password
            if password is None:
                raise ValueError("private_key is encrypted: give its passphrase") from None
            raise ValueError("private_key is not encrypted but a passphrase is given") from None
        except ValueError:
            raise ValueError(
                "private_key is not a readable private key (or the passphrase is wrong)"
            ) from None
        key_class: type[paramiko.PKey]
        if isinstance(loaded, rsa.RSAPrivateKey):
            key_class = paramiko.RSAKey
        elif isinstance(loaded, ed25519.Ed25519PrivateKey):
            key_class = paramiko.Ed25519Key
        elif isinstance(loaded, ec.EllipticCurvePrivateKey):
            key_class = paramiko.ECDSAKey
        else:
            raise ValueError("private_key is of a type SSH cannot use here")
        try:
            return key_class.from_private_key(io.StringIO(text), password=password)
        except paramiko.SSHException:
            raise ValueError("private_key cannot be loaded by paramiko") from None

    def url(self, path: str = "", *, user: bool = False) -> str:
        """An ``sftp://`` URL for ``path`` (relative paths are under the login's home)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        who = f"{self.username}@" if user else ""
        if path and not path.startswith("/"):
            path = "/~/" + path
        return f"sftp://{who}{host}:{self.port}{path}"


def _pw(password: str | None) -> bytes | None:
    return None if password is None else password.encode("utf-8")


def fingerprint(key: paramiko.PKey) -> str:
    """A host key's fingerprint as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


MAX_HANDSHAKE_BYTES = 256 << 10
"""The most a server may send before we are logged in: a banner and a key exchange are ~10 KB."""


class _Metered:
    """A socket for paramiko that refuses an endless banner or key exchange, and can be cut."""

    def __init__(self, sock: socket.socket, budget: int | None) -> None:
        self.sock, self.budget = sock, budget

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise OSError("the server sent too much before login (an endless banner?)")
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _Dropped(Exception):
    """The connection went away under an operation; a fresh one may succeed."""


class SftpConnection:
    """One reusable SFTP session per channel; thread-safe; re-opens after a drop."""

    def __init__(self, settings: SftpSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._socket: socket.socket | None = None
        self.connections_opened = 0

    def upload_atomic(self, directory: str, files: Mapping[str, bytes]) -> list[str]:
        """Write ``files`` into ``directory`` one by one, each by temp name + rename.

        Files are renamed into place in the mapping's order, so a marker file
        given last (a manifest) appears only once everything before it has.
        Returns the remote paths.
        """
        for name in files:
            _plain(name)
        with self._lock:
            reused = self._sftp is not None and self._alive()
            try:
                return self._upload(self._session(), directory, files)
            except _Dropped as exc:
                self._reset()
                if not reused:
                    raise TransientDeliveryError(
                        f"connection to {self._where()} lost: {exc}"
                    ) from None
            # The idle connection had died without our noticing; one fresh try.
            try:
                return self._upload(self._session(), directory, files)
            except _Dropped as exc:
                self._reset()
                raise TransientDeliveryError(f"connection to {self._where()} lost: {exc}") from None

    def read_files(
        self, directory: str, names: Sequence[str], limit: int
    ) -> dict[str, tuple[int, bytes | None]]:
        """Each of ``names`` in ``directory`` that is there: its size and content.

        A file larger than ``limit`` bytes is stat'ed, not read (its content is None).
        Every read is bounded like an upload: each reply within ``io_timeout``.
        """
        for name in names:
            _plain(name)
        with self._lock:
            reused = self._sftp is not None and self._alive()
            try:
                return self._read(self._session(), directory, names, limit)
            except _Dropped as exc:
                self._reset()
                if not reused:
                    raise TransientDeliveryError(
                        f"connection to {self._where()} lost: {exc}"
                    ) from None
            try:
                return self._read(self._session(), directory, names, limit)
            except _Dropped as exc:
                self._reset()
                raise TransientDeliveryError(f"connection to {self._where()} lost: {exc}") from None

    def interrupt(self) -> None:
        """Cut the connection now (from another thread): a read blocked on it returns."""
        sock = self._socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection, if one is open."""
        with self._lock:
            self._reset()

    # --- uploading -----------------------------------------------------------

    def _upload(
        self, sftp: paramiko.SFTPClient, directory: str, files: Mapping[str, bytes]
    ) -> list[str]:
        done = []
        for name, content in files.items():
            final = posixpath.join(directory, name) if directory else name
            temp = posixpath.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
            try:
                sftp.putfo(io.BytesIO(content), temp, file_size=len(content), confirm=True)
                sftp.posix_rename(temp, final)
            except Exception as exc:
                self._discard(sftp, temp)
                raise self._classify(exc, directory) from None
            done.append(final)
        return done

    def _read(
        self, sftp: paramiko.SFTPClient, directory: str, names: Sequence[str], limit: int
    ) -> dict[str, tuple[int, bytes | None]]:
        found: dict[str, tuple[int, bytes | None]] = {}
        for name in names:
            path = posixpath.join(directory, name) if directory else name
            try:
                size = sftp.stat(path).st_size or 0
                if size > limit:
                    found[name] = (size, None)
                    continue
                with sftp.open(path, "rb") as remote:
                    # A file growing while it is read is cut at the limit, never read on and on.
                    content = remote.read(limit + 1)
            except FileNotFoundError:
                continue
            except Exception as exc:
                raise self._classify(exc, directory, "read") from None
            found[name] = (len(content), content)
        return found

    def _discard(self, sftp: paramiko.SFTPClient, temp: str) -> None:
        if not self._alive():
            return
        # Best effort: the temp file may never have been created.
        with contextlib.suppress(Exception):
            sftp.remove(temp)

    def _classify(self, exc: Exception, directory: str, doing: str = "write") -> Exception:
        if isinstance(exc, DeliveryError):
            return exc
        if not self._alive() or isinstance(exc, EOFError | paramiko.SSHException):
            return _Dropped(_reason(exc))
        if isinstance(exc, TimeoutError):
            # Replies may still arrive for the abandoned request; start clean next time.
            self._reset()
            return TransientDeliveryError(
                f"{self._where()} did not answer within {self.settings.io_timeout:g}s"
            )
        where = directory or "the login directory"
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
            return PermanentDeliveryError(
                f"permission denied to {doing} in {where} on {self._where()}", status="permission"
            )
        if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
            return PermanentDeliveryError(
                f"directory {where} does not exist on {self._where()}", status="no-such-file"
            )
        text = _reason(exc)
        if "unsupported" in text.lower():
            return PermanentDeliveryError(
                f"{self._where()} does not support atomic rename (posix-rename@openssh.com)",
                status="unsupported",
            )
        # SSH_FX_FAILURE covers a full disk and other server-side trouble.
        return TransientDeliveryError(f"{self._where()} failed to store a file: {text}")

    # --- connecting ------------------------------------------------------------

    def _alive(self) -> bool:
        t = self._transport
        return t is not None and t.is_active()

    def _session(self) -> paramiko.SFTPClient:
        if self._sftp is not None and self._alive():
            return self._sftp
        self._reset()
        transport = self._open()
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise paramiko.SSHException("the server refused the sftp subsystem")
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(self.settings.io_timeout)
        except PermanentDeliveryError:
            transport.close()
            raise
        except Exception as exc:
            transport.close()
            raise TransientDeliveryError(
                f"cannot start SFTP on {self._where()}: {_reason(exc)}"
            ) from None
        self._transport, self._sftp = transport, sftp
        return sftp

    def _open(self) -> paramiko.Transport:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except TimeoutError:
            raise TransientDeliveryError(
                f"{self._where()} did not accept a connection within {s.connect_timeout:g}s",
                status="timeout",
            ) from None
        except OSError as exc:
            raise TransientDeliveryError(
                f"cannot connect to {self._where()}: {exc.strerror or exc}", status="connect"
            ) from None
        self._socket = sock
        metered = _Metered(sock, MAX_HANDSHAKE_BYTES)
        transport = paramiko.Transport(metered)  # type: ignore[arg-type]
        try:
            transport.banner_timeout = s.connect_timeout
            transport.handshake_timeout = s.connect_timeout
            transport.auth_timeout = s.connect_timeout
            known = self._known_keys()
            self._prefer_key_types(transport, known)
            try:
                transport.start_client(timeout=s.connect_timeout)
            except IncompatiblePeer as exc:
                raise PermanentDeliveryError(
                    f"{self._where()} offers no SSH algorithm we accept: {exc}", status="kex"
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise TransientDeliveryError(
                    f"SSH handshake with {self._where()} failed: {_reason(exc)}", status="handshake"
                ) from None
            try:
                server_key = transport.get_remote_server_key()
            except paramiko.SSHException:
                # start_client returns quietly when its timeout passes mid-negotiation.
                raise TransientDeliveryError(
                    f"SSH handshake with {self._where()} did not complete "
                    f"within {s.connect_timeout:g}s",
                    status="handshake",
                ) from None
            self._check_host_key(server_key, known)
            self._authenticate(transport)
            metered.budget = None  # logged in: paramiko bounds each packet itself
            transport.set_keepalive(30)
        except BaseException:
            transport.close()
            raise
        self.connections_opened += 1
        return transport

    def _host_name(self) -> str:
        s = self.settings
        return s.host if s.port == 22 else f"[{s.host}]:{s.port}"

    def _known_keys(self) -> dict[str, paramiko.PKey] | None:
        path = self.settings.known_hosts
        if path is None:
            return None
        try:
            keys = paramiko.HostKeys(str(path))
        except Exception:
            raise PermanentDeliveryError(
                f"cannot read known_hosts file {path}", status="host-key"
            ) from None
        entry = keys.lookup(self._host_name())
        return {} if entry is None else dict(entry)

    def _prefer_key_types(
        self, transport: paramiko.Transport, known: dict[str, paramiko.PKey] | None
    ) -> None:
        if not known:
            return
        options = transport.get_security_options()
        wanted: list[str] = []
        for name in known:
            wanted += _RSA_TYPES if name == "ssh-rsa" else [name]
        first = [t for t in wanted if t in options.key_types]
        options.key_types = first + [t for t in options.key_types if t not in first]

    def _check_host_key(self, key: paramiko.PKey, known: dict[str, paramiko.PKey] | None) -> None:
        s = self.settings
        seen = fingerprint(key)
        if known is None:
            if seen != s.host_key:
                raise PermanentDeliveryError(
                    f"host key of {self._where()} is {seen}, not the pinned {s.host_key}; "
                    "refusing to send anything",
                    status="host-key",
                )
            return
        if not known:
            raise PermanentDeliveryError(
                f"{self._host_name()} is not in known_hosts file {s.known_hosts} "
                f"(it offers {key.get_name()} {seen}); refusing to send anything",
                status="host-key",
            )
        expected = known.get(key.get_name())
        if expected is None or expected.asbytes() != key.asbytes():
            raise PermanentDeliveryError(
                f"host key of {self._where()} ({key.get_name()} {seen}) does not match "
                f"known_hosts file {s.known_hosts}; refusing to send anything",
                status="host-key",
            )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        s = self.settings
        refused = PermanentDeliveryError(
            f"{self._where()} refused the credentials for user {s.username!r}", status="auth"
        )
        try:
            pkey = s.load_private_key()
        except ValueError as exc:
            raise PermanentDeliveryError(str(exc), status="auth") from None
        try:
            if pkey is not None:
                try:
                    transport.auth_publickey(s.username, pkey)
                except paramiko.AuthenticationException:
                    if s.password is None:
                        raise
            if not transport.is_authenticated() and s.password is not None:
                transport.auth_password(s.username, s.password.get_secret_value())
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "none"
            raise PermanentDeliveryError(
                f"{self._where()} refused the credentials for user {s.username!r} "
                f"(it accepts: {allowed})",
                status="auth",
            ) from None
        except paramiko.AuthenticationException:
            raise refused from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise TransientDeliveryError(
                f"connection to {self._where()} lost during login: {_reason(exc)}"
            ) from None
        if not transport.is_authenticated():
            raise refused

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _reset(self) -> None:
        sftp, transport = self._sftp, self._transport
        self._sftp = self._transport = None
        for thing in (sftp, transport):
            if thing is not None:
                # Closing a dead connection may fail; it is gone either way.
                with contextlib.suppress(Exception):
                    thing.close()


def _plain(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise ValueError(f"not a plain file name: {name!r}")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
