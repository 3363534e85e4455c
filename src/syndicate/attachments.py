"""A notice's local attachment files: found under one folder, checked against their SHA-256.

A notice names an attachment's ``path`` relative to the attachments folder
(``attachments.root`` in channels.yaml; by default the folder ``attachments``
beside it). The notice model refuses absolute paths and ``..``; here each
part of the path is opened relative to the one before without following
symbolic links, so nothing outside the folder can be reached, even through a
link planted inside it. Files the configuration holds secrets in can never be
attached, wherever they are linked from. Messages name only the notice's own
relative path: never an absolute path, whether something exists elsewhere, or
the hash a file really has.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .errors import PermanentDeliveryError, TransientDeliveryError
from .notice import Attachment, Notice

MAX_ATTACHMENT_BYTES = 200 << 20
"""A larger local attachment is refused rather than read into memory."""

_NO_FOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class AttachmentRefused(Exception):
    """An attachment path that may not be read; the message is safe to show anyone."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of ``path`` after links, or None if it cannot be seen."""
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


class AttachmentFiles:
    """Reads attachment files under ``root``; what a channel sends is what the notice pinned."""

    def __init__(self, root: Path, forbidden: Iterable[tuple[int, int]] = ()) -> None:
        self.root = root
        # Identities of the configuration's secret files: refused even as hard links.
        self.forbidden = frozenset(forbidden)

    def missing(self, notice: Notice) -> list[str]:
        """The attachments that cannot be sent, as ``check()`` reports them."""
        problems = []
        for a in notice.attachments:
            if a.path is None:
                continue
            try:
                os.close(self._open(a))
            except AttachmentRefused as exc:
                problems.append(f"attachment {a.name!r}: {exc}")
            except OSError:
                pass  # unreadable now is a transient problem of the worker's disk
        return problems

    def read(self, attachment: Attachment) -> bytes:
        """The file's bytes; a missing, refused or altered file fails the delivery."""
        if attachment.path is None:
            raise ValueError(f"attachment {attachment.name!r} has no local path")
        where = f"attachment {attachment.name!r}"
        try:
            fd = self._open(attachment)
        except AttachmentRefused as exc:
            raise PermanentDeliveryError(f"{where}: {exc}") from None
        except OSError as exc:
            raise TransientDeliveryError(
                f"{where}: cannot read {attachment.path}: {exc.strerror}"
            ) from None
        try:
            content = _read_all(fd)
        except OSError as exc:
            raise TransientDeliveryError(
                f"{where}: cannot read {attachment.path}: {exc.strerror}"
            ) from None
        finally:
            os.close(fd)
        if hashlib.sha256(content).hexdigest() != attachment.sha256:
            raise PermanentDeliveryError(
                f"{where}: {attachment.path} does not match the sha256 the notice pins"
            )
        if attachment.size is not None and attachment.size != len(content):
            raise PermanentDeliveryError(
                f"{where}: {attachment.path} is not the size the notice says"
            )
        return content

    def _open(self, attachment: Attachment) -> int:
        """A descriptor of the regular file at the attachment's path, reached link-free."""
        relative = str(attachment.path)
        parts = PurePosixPath(relative.replace("\\", "/")).parts
        if not parts or any(p in ("", ".", "..", "/") for p in parts):
            raise AttachmentRefused(f"{relative} is not a path inside the attachments folder")
        try:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            raise AttachmentRefused(
                f"no file at {relative}: the attachments folder cannot be opened", missing=True
            ) from None
        try:
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = os.O_RDONLY | _NO_FOLLOW | (0 if last else os.O_DIRECTORY)
                try:
                    child = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        raise AttachmentRefused(f"no file at {relative}", missing=True) from None
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                        raise AttachmentRefused(
                            f"{relative} is not a plain file inside the attachments folder "
                            "(symbolic links are not followed)"
                        ) from None
                    raise
                os.close(fd)
                fd = child
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise AttachmentRefused(f"{relative} is not a plain file")
            if (st.st_dev, st.st_ino) in self.forbidden:
                raise AttachmentRefused(
                    f"{relative} is a file the configuration keeps a secret in; refused"
                )
            if st.st_size > MAX_ATTACHMENT_BYTES:
                raise AttachmentRefused(
                    f"{relative} is larger than {MAX_ATTACHMENT_BYTES >> 20} MB"
                )
        except BaseException:
            os.close(fd)
            raise
        return fd


def _read_all(fd: int) -> bytes:
    chunks = []
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
        if total > MAX_ATTACHMENT_BYTES:
            raise OSError(errno.EFBIG, "file grew past the size limit")
        chunks.append(chunk)
    return b"".join(chunks)
