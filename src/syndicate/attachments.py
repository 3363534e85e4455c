"""A notice's local attachment files: found under one folder, checked against their SHA-256.

A notice names an attachment's ``path`` relative to the attachments folder
(``attachments.root`` in channels.yaml, by default the folder of the file);
the notice model refuses absolute paths and ``..``, so an upstream system can
never make a channel publish a file from elsewhere.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import PermanentDeliveryError, TransientDeliveryError
from .notice import Attachment, Notice


class AttachmentFiles:
    """Reads attachment files under ``root``; what a channel sends is what the notice pinned."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def locate(self, attachment: Attachment) -> Path | None:
        return None if attachment.path is None else self.root / attachment.path

    def missing(self, notice: Notice) -> list[str]:
        """The attachments whose file is not there, as ``check()`` reports them."""
        problems = []
        for a in notice.attachments:
            path = self.locate(a)
            if path is not None and not path.is_file():
                problems.append(f"attachment {a.name!r}: no file at {path}")
        return problems

    def read(self, attachment: Attachment) -> bytes:
        """The file's bytes; a missing or altered file fails the delivery."""
        path = self.locate(attachment)
        if path is None:
            raise ValueError(f"attachment {attachment.name!r} has no local path")
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise PermanentDeliveryError(
                f"attachment {attachment.name!r}: no file at {path}"
            ) from None
        except OSError as exc:
            raise TransientDeliveryError(
                f"attachment {attachment.name!r}: cannot read {path}: {exc.strerror}"
            ) from None
        actual = hashlib.sha256(content).hexdigest()
        if actual != attachment.sha256:
            raise PermanentDeliveryError(
                f"attachment {attachment.name!r}: {path} has sha256 {actual}, "
                f"the notice pins {attachment.sha256}"
            )
        if attachment.size is not None and attachment.size != len(content):
            raise PermanentDeliveryError(
                f"attachment {attachment.name!r}: {path} has {len(content)} bytes, "
                f"the notice says {attachment.size}"
            )
        return content
