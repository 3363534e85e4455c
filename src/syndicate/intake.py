"""Reading notices from files, folders and standard input, with limits before anything is parsed.

Every way in gives ``Notice.parse`` the same input it would get from the API:
bytes, or a dict parsed the strict way (duplicate keys refused, amounts as
Decimal, nesting capped). A file larger than a notice can be is refused from
its size, without reading it; standard input is read up to a cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .errors import NoticeError, Problem
from .notice import MAX_NOTICE_BYTES, loads_notice_json

MAX_STDIN_BYTES = 64 << 20
"""Standard input (an array or JSON lines of many notices) larger than this is refused."""

Source = tuple[str, bytes | dict[str, Any] | NoticeError]
"""Where a notice came from, and its JSON bytes, its parsed object or why it was refused."""


def read_notice_file(path: Path) -> bytes:
    """The bytes of a notice file; NoticeError if it is larger than a notice can be."""
    size = path.stat().st_size
    if size > MAX_NOTICE_BYTES:
        raise NoticeError([_too_large(str(path), size, MAX_NOTICE_BYTES)])
    with path.open("rb") as f:
        data = f.read(MAX_NOTICE_BYTES + 1)  # the file may have grown since
    if len(data) > MAX_NOTICE_BYTES:
        raise NoticeError([_too_large(str(path), len(data), MAX_NOTICE_BYTES)])
    return data


def file_sources(path: Path) -> Iterator[Source]:
    """A file, or every ``*.json`` under a folder."""
    for child in sorted(path.rglob("*.json")) if path.is_dir() else [path]:
        try:
            yield str(child), read_notice_file(child)
        except NoticeError as exc:
            yield str(child), exc


def stdin_sources(stream: BinaryIO) -> Iterator[Source]:
    """Standard input holds one JSON notice, a JSON array of notices, or JSON lines."""
    data = stream.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        yield "<stdin>", NoticeError([_too_large("<stdin>", len(data), MAX_STDIN_BYTES)])
        return
    text = data.strip()
    if text.startswith(b"["):
        yield from _array(data)
        return
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.lstrip().startswith(b"{") for line in lines):
        for i, line in enumerate(lines, 1):
            yield f"<stdin>:{i}", line
        return
    yield "<stdin>", data


def _array(data: bytes) -> Iterator[Source]:
    try:
        # One level more than a notice: the array holding them.
        items = loads_notice_json(data.decode("utf-8"), source="<stdin>", max_depth=33)
    except UnicodeDecodeError as exc:
        yield "<stdin>", NoticeError([Problem("", f"not valid UTF-8 at byte {exc.start}")])
        return
    except NoticeError as exc:
        yield "<stdin>", exc
        return
    for i, item in enumerate(items):
        name = f"<stdin>[{i}]"
        if isinstance(item, dict):
            yield name, item
        else:
            yield name, NoticeError([Problem("", "a notice must be a JSON object", source=name)])


def _too_large(source: str, size: int, limit: int) -> Problem:
    return Problem("", f"too large ({size:,} bytes or more; at most {limit >> 20} MB)", source)
