"""Files written safely: whole or not at all, never through a planted link, not world-readable."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

FILE_MODE = 0o640
"""Written files: the owner writes, the owner's group (a scraper, a screen controller) reads."""

PRIVATE_MODE = 0o600
"""The ledger: the owner only."""

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path, content: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``content``: a reader sees the old file or the new, never half.

    A symbolic link at ``path`` is refused (someone may have planted it to make us
    overwrite another file); the temporary file is created new, never opened through a link.
    """
    if path.is_symlink():
        raise OSError(errno.ELOOP, "refusing to write through a symbolic link", str(path))
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, _CREATE, mode)
    try:
        try:
            os.fchmod(fd, mode)  # whatever the umask says
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only if it does not exist yet (never through a link)."""
    try:
        fd = os.open(path, _CREATE, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)
