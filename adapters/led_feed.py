"""LED display screens at the trading hall: an RSS/Atom feed file per screen.

政府信息公开条例 names electronic display screens as a disclosure channel. Each
screen's controller reads a feed file holding the screen's current items; one
delivery adds (or replaces) one notice's item. Items are the notice summary
fitted to the screen's geometry in half-width cells, in the screen's encoding,
and leave the feed once the notice's ``valid_until`` has passed.

The feed holds a set of items while a delivery carries one notice, so the
current set lives in a small JSON file next to the feed (``<path>.items.json``),
changed under a lock and written atomically together with the feed.

A new version replaces the notice's item. A withdrawal, and the expiry the
worker sends at the notice's ``valid_until``, remove it: the screens stop
showing it without anyone touching the feed.
"""

from __future__ import annotations

import fcntl
import json
import os
import posixpath
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from xml.etree import ElementTree

from feedgen.feed import FeedGenerator
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from wcwidth import iter_graphemes, wcswidth, wcwidth

from syndicate.adapter import (
    BlockingAdapter,
    DeliveryContext,
    HeldPart,
    Landed,
    Options,
    Payload,
    ReadBack,
    Receipt,
    TakenDown,
)
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.labels import CATEGORY_SHORT_LABELS
from syndicate.notice import Notice
from syndicate.safefile import write_atomic
from syndicate.store.base import Purpose

from ._sftp import SftpConnection, SftpSettings

ELLIPSIS = "…"


Format = Literal["rss", "atom"]
Encoding = Literal["utf-8", "gbk", "gb2312"]

# --- fitting text to a screen ------------------------------------------------

_WORD_CHAR = re.compile(r"[0-9A-Za-z\u00c0-\u024f]")
# Kept inside a word only between two word characters: 12.5, HYZB-2016-001, 10:00, 1,000.
_WORD_JOINERS = frozenset(".,:/_-+%'")


def _xml_unsafe(ch: str) -> bool:
    cp = ord(ch)
    return 0xD800 <= cp <= 0xDFFF or cp in (0xFFFE, 0xFFFF)


def normalize_text(text: str) -> str:
    """Text as a screen shows it: NFC, one space for any whitespace run or control character."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if wcwidth(ch) < 0 or _xml_unsafe(ch) else ch for ch in text)
    return " ".join(text.split())


def _is_word(cluster: str) -> bool:
    return _WORD_CHAR.match(cluster) is not None


def _tokens(clusters: list[str]) -> Iterator[list[str]]:
    """Latin words and digit runs as one token each; every other grapheme alone."""
    i, n = 0, len(clusters)
    while i < n:
        if not _is_word(clusters[i]):
            yield [clusters[i]]
            i += 1
            continue
        j = i + 1
        while j < n:
            if _is_word(clusters[j]):
                j += 1
            elif clusters[j] in _WORD_JOINERS and j + 1 < n and _is_word(clusters[j + 1]):
                j += 2
            else:
                break
        yield clusters[i:j]
        i = j


def _width(clusters: list[str]) -> int:
    text = "".join(clusters)
    width = wcswidth(text)
    return width if width >= 0 else sum(max(wcwidth(ch), 0) for ch in text)


def fit_text(text: str, columns: int, lines: int) -> list[str]:
    """Wrap ``text`` into at most ``lines`` lines of at most ``columns`` cells.

    Widths are terminal cells (``wcwidth``): a full-width character takes two
    and is never cut; one that does not fit the rest of a line starts the
    next. A Latin word or digit run moves whole to the next line when it fits
    there. A space where a line breaks is dropped; otherwise the lines are
    consecutive pieces of ``normalize_text(text)``. When the text does not fit,
    the last line ends with an ellipsis.
    """
    if columns < 1 or lines < 1:
        raise ValueError("a screen needs at least one column and one line")
    clusters = list(iter_graphemes(normalize_text(text)))
    done: list[list[str]] = []
    cur: list[str] = []
    truncated = False

    def fits(candidate: list[str]) -> bool:
        return _width(candidate) <= columns

    def break_line() -> bool:
        """End the current line; False when no line is left for what follows."""
        nonlocal cur, truncated
        while cur and cur[-1] == " ":
            cur.pop()
        done.append(cur)
        cur = []
        if len(done) >= lines:
            truncated = True
            return False
        return True

    for token in _tokens(clusters):
        if truncated:
            break
        if fits(cur + token):
            if cur or token != [" "]:
                cur += token
            continue
        if token == [" "]:
            break_line()
            continue
        if _is_word(token[0]) and cur and fits(token):
            if break_line():
                cur = list(token)
            continue
        for cluster in token:
            if fits([*cur, cluster]):
                cur.append(cluster)
                continue
            if not cur or not break_line():
                # not cur: a grapheme wider than a whole line can never be shown
                truncated = True
                break
            if not fits([cluster]):
                truncated = True
                break
            cur = [cluster]
    if cur:
        done.append(cur)
    if truncated:
        _add_ellipsis(done, columns, lines)
    return ["".join(line) for line in done]


def _add_ellipsis(done: list[list[str]], columns: int, lines: int) -> None:
    ellipsis = [ELLIPSIS]
    if done and _width(done[-1] + ellipsis) <= columns:
        done[-1].append(ELLIPSIS)
        return
    if len(done) < lines:
        done.append(ellipsis)
        return
    last = done[-1]
    while last and (_width(last + ellipsis) > columns or last[-1] == " "):
        last.pop()
    last.append(ELLIPSIS)


# --- options -------------------------------------------------------------------

ScreenName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


class Screen(BaseModel):
    """One LED screen: its geometry, encoding and feed file(s)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: ScreenName
    columns: int = Field(ge=4, le=512, description="half-width cells per line")
    lines: int = Field(ge=1, le=64)
    format: tuple[Format, ...] = ("rss",)
    encoding: Encoding = "utf-8"
    replacement: Annotated[str, StringConstraints(min_length=1, max_length=1)] | None = None
    path: dict[Format, Path] = Field(description="feed file; {rss: ..., atom: ...} for both")
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    link: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
    max_items: int = Field(default=20, ge=1, le=500)

    @field_validator("format", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        if value == "both":
            return ("rss", "atom")
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and len(set(value)) != len(value):
            raise ValueError("a format is named twice")
        return value

    @field_validator("encoding", mode="before")
    @classmethod
    def _encoding(cls, value: Any) -> Any:
        return value.lower().replace("utf8", "utf-8") if isinstance(value, str) else value

    @field_validator("path", mode="before")
    @classmethod
    def _paths(cls, value: Any, info: ValidationInfo) -> Any:
        base = Path((info.context or {}).get("base_dir") or Path.cwd())
        formats: tuple[str, ...] | None = info.data.get("format")
        if isinstance(value, str | os.PathLike):
            if formats is None:
                return value  # the format error is reported on its own
            if len(formats) != 1:
                raise ValueError("with two formats give path as {rss: <file>, atom: <file>}")
            value = {formats[0]: value}
        if not isinstance(value, dict):
            raise ValueError("a path, or {rss: <file>, atom: <file>}")
        return {k: (base / Path(str(v))).resolve() for k, v in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if set(self.path) != set(self.format):
            raise ValueError(f"path must name a file for each format ({', '.join(self.format)})")
        if len(set(self.path.values())) != len(self.path):
            raise ValueError("the rss and atom feeds need different files")
        if self.replacement is not None:
            if self.replacement.isspace() or wcwidth(self.replacement) not in (1, 2):
                raise ValueError("replacement must be one visible character")
            _encodable_or_raise(self.replacement, self, what="replacement")
        _encodable_or_raise(self.feed_title, self, what="title")
        return self

    @property
    def feed_title(self) -> str:
        return self.title or self.name

    @property
    def files(self) -> list[Path]:
        return [self.path[f] for f in self.format]

    @property
    def state_path(self) -> Path:
        first = self.files[0]
        return first.with_name(first.name + ".items.json")


def _encodable_or_raise(text: str, screen: Screen, *, what: str) -> None:
    for ch in text:
        if not _encodable(ch, screen.encoding):
            raise ValueError(f"{what}: {_char_name(ch)} cannot be written in {screen.encoding}")


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _char_name(ch: str) -> str:
    return f"{ch!r} (U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')})"


class FeedUpload(SftpSettings):
    """Where the feed files are uploaded too: an SFTP server and a remote directory."""

    directory: str = Field(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f]+$")


class LedFeedOptions(Options):
    """Options of a led_feed channel: its screens, and an optional SFTP upload."""

    screens: list[Screen] = Field(min_length=1, max_length=50)
    sftp: FeedUpload | None = None

    @field_validator("screens", mode="before")
    @classmethod
    def _screens(cls, value: Any) -> Any:
        if isinstance(value, dict):
            out = []
            for name, settings in value.items():
                if not isinstance(settings, dict):
                    raise ValueError(f"screen {name!r}: expected a mapping of settings")
                if settings.get("name", name) != name:
                    raise ValueError(f"screen {name!r}: name differs from its key")
                out.append({**settings, "name": name})
            return out
        return value

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [s.name for s in self.screens]
        if len(names) != len(set(names)):
            raise ValueError("screen names must be unique")
        files = [f for s in self.screens for f in s.files]
        if len(files) != len(set(files)):
            raise ValueError("two screens write the same feed file")
        if self.sftp is not None:
            names = [f.name for f in files]
            if len(names) != len(set(names)):
                raise ValueError("with sftp, feed file names must differ: they share a directory")
            if any(n.startswith(".") for n in names):
                raise ValueError("with sftp, feed file names may not start with '.'")
        return self


# --- the adapter -----------------------------------------------------------------

# Deliveries to one screen change one file; a lock per state file serializes
# them in this process, an fcntl lock serializes workers sharing the path.
_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextmanager
def _locked(state_path: Path) -> Iterator[None]:
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(state_path, threading.Lock())
    with lock:
        lock_path = state_path.with_name(state_path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock


class LedFeedAdapter(BlockingAdapter[LedFeedOptions]):
    """Feed files for LED display screens, one item per notice."""

    kind: ClassVar[str] = "led_feed"
    Options: ClassVar[type[LedFeedOptions]] = LedFeedOptions
    # A screen shows the summary cut to its width, not the notice: no key fact is compared.
    facts_carried: ClassVar[frozenset[str] | None] = frozenset()
    purposes: ClassVar[frozenset[Purpose]] = frozenset(Purpose)

    def __init__(
        self,
        channel: str,
        options: LedFeedOptions,
        *,
        now: Callable[[], datetime] | None = None,
        **setup: Any,
    ) -> None:
        super().__init__(channel, options, **setup)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._remote = None if options.sftp is None else SftpConnection(options.sftp)

    def describe(self) -> str:
        where = ", ".join(str(f) for s in self.options.screens for f in s.files)
        if self.options.sftp is not None:
            where += " + " + self.options.sftp.url(self.options.sftp.directory, user=True)
        return "feed → " + where

    def interrupt_blocking(self, ctx: DeliveryContext) -> None:
        if self._remote is not None:
            self._remote.interrupt()

    def close_blocking(self) -> None:
        if self._remote is not None:
            self._remote.close()

    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        if ctx.purpose is not Purpose.publish:
            return self._removal(notice, ctx)
        source = notice.summary if notice.summary and notice.summary.strip() else notice.title
        text = f"【{CATEGORY_SHORT_LABELS[notice.category.value]}】{source}"
        screens: dict[str, list[str]] = {}
        parts: dict[str, bytes] = {}
        for screen in self.options.screens:
            lines = fit_text(self._encodable_text(text, screen), screen.columns, screen.lines)
            screens[screen.name] = lines
            parts[_part_name(screen)] = _screen_part(ctx.idempotency_key, screen, lines)
        item = {
            "id": ctx.idempotency_key,
            "notice_id": notice.id,
            "version": notice.version,
            "published": notice.publish_at.isoformat(),
            "valid_until": notice.valid_until.isoformat() if notice.valid_until else None,
            "screens": screens,
        }
        target = self.describe().removeprefix("feed → ")
        return Payload("text/plain; charset=utf-8", parts, target=target, data={"item": item})

    def _removal(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        """Take the notice's item off every screen (a withdrawal, an expiry)."""
        why = "withdrawn" if ctx.purpose is Purpose.withdrawal else "expired"
        removal = {"notice_id": notice.id, "version": notice.version, "why": why}
        parts = {
            f"{screen.name}.txt": f"remove the item of {notice.id} ({why})\n".encode()
            for screen in self.options.screens
        }
        target = self.describe().removeprefix("feed → ")
        return Payload("text/plain; charset=utf-8", parts, target=target, data={"remove": removal})

    def _encodable_text(self, text: str, screen: Screen) -> str:
        text = normalize_text(text)
        out = []
        for ch in text:
            if _encodable(ch, screen.encoding):
                out.append(ch)
            elif screen.replacement is not None:
                out.append(screen.replacement)
            else:
                raise PermanentDeliveryError(
                    f"screen {screen.name!r} ({screen.encoding}) cannot show {_char_name(ch)}; "
                    "set `replacement` to show a substitute"
                )
        return "".join(out)

    def send_blocking(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        item: Mapping[str, Any] = payload.data.get("item") or payload.data["remove"]
        change = _remove if "remove" in payload.data else _merge
        now = self.now()
        shown: list[str] = []
        detail = []
        for screen in self.options.screens:
            urls = [f.as_uri() for f in screen.files]
            try:
                screen.state_path.parent.mkdir(parents=True, exist_ok=True)
                with _locked(screen.state_path):
                    items, status, feeds = _write_screen(screen, item, now, change)
                    # Under the lock, so the server never gets an older feed after a newer one.
                    if self._remote is not None and self.options.sftp is not None:
                        remote = self.options.sftp
                        uploaded = self._remote.upload_atomic(remote.directory, feeds)
                        urls += [remote.url(p, user=True) for p in uploaded]
            except PermissionError as exc:
                raise PermanentDeliveryError(
                    f"screen {screen.name!r}: cannot write {exc.filename}: {exc.strerror}"
                ) from None
            except OSError as exc:
                raise TransientDeliveryError(
                    f"screen {screen.name!r}: cannot write {exc.filename}: {exc.strerror}"
                ) from None
            detail.append(f"{screen.name}: {status}, {len(items)} items, {' '.join(urls)}")
            shown.append(status)
        status = "written" if "written" in shown else shown[0]
        first = self.options.screens[0].files[0].as_uri()
        return Receipt(
            remote_id=str(item.get("id", ctx.idempotency_key)),
            url=first,
            status="removed" if "removed" in shown else status,
            detail="; ".join(detail),
        )

    async def read_back(self, notice: Notice, ctx: DeliveryContext, landed: Landed) -> ReadBack:
        """The item as every feed file of every screen shows it (local, and uploaded copies)."""
        return await self.in_thread(ctx, self._read_back, notice, ctx.idempotency_key)

    def _read_back(self, notice: Notice, key: str) -> ReadBack:
        held: list[HeldPart] = []
        full = True  # every copy without the item is a feed at its max_items
        for screen in self.options.screens:
            for fmt, content, where in self._copies(screen):
                lines, count = _find_item(content, fmt, key) if content else (None, 0)
                if lines is None:
                    held.append(HeldPart(_part_name(screen), where, None, None))
                    full = full and count >= screen.max_items
                    continue
                part = _screen_part(key, screen, lines)
                held.append(HeldPart(_part_name(screen), where, len(part), part))
        if all(h.size is None for h in held):
            now = self.now()
            if notice.valid_until is not None and notice.valid_until <= now:
                return TakenDown(f"the notice expired at {notice.valid_until.isoformat()}")
            if full:
                return TakenDown("newer items filled the screens' feeds (max_items)")
        return held

    def _copies(self, screen: Screen) -> Iterator[tuple[Format, bytes | None, str]]:
        """Each feed file of ``screen``: here, and on the SFTP server it is uploaded to."""
        for fmt in screen.format:
            path = screen.path[fmt]
            try:
                if path.stat().st_size > MAX_FEED_BYTES:
                    raise TransientDeliveryError(f"{path} is larger than a feed can be")
                content: bytes | None = path.read_bytes()
            except FileNotFoundError:
                content = None
            except OSError as exc:
                raise TransientDeliveryError(f"cannot read {path}: {exc.strerror}") from None
            yield fmt, content, path.as_uri()
        remote = self.options.sftp
        if remote is None or self._remote is None:
            return
        names = {screen.path[fmt].name: fmt for fmt in screen.format}
        found = self._remote.read_files(remote.directory, list(names), MAX_FEED_BYTES)
        for name, fmt in names.items():
            url = remote.url(posixpath.join(remote.directory, name), user=True)
            yield fmt, found.get(name, (0, None))[1], url


MAX_FEED_BYTES = 16 << 20
"""A feed file larger than this is not read back: a screen's few hundred items are far less."""

_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
_ATOM = "{http://www.w3.org/2005/Atom}"


def _part_name(screen: Screen) -> str:
    return f"{screen.name}.txt"


def _screen_part(key: str, screen: Screen, lines: list[str]) -> bytes:
    """A screen's part of the payload: which item, which screen, and its lines."""
    geometry = f"{screen.columns}×{screen.lines}, {screen.encoding}, {'+'.join(screen.format)}"
    preview = [f"item {key}", f"screen {screen.name} ({geometry})", ""]
    return "\n".join([*preview, *lines, ""]).encode("utf-8")


def _find_item(content: bytes, fmt: Format, key: str) -> tuple[list[str] | None, int]:
    """The lines of item ``key`` in a feed (None: not there) and how many items the feed has."""
    declared = _DECLARED.match(content)
    try:
        text = content.decode(declared.group(1).decode("ascii") if declared else "utf-8")
        if "<!" in text.replace("<![CDATA[", ""):
            return None, 0  # a DTD (entities that expand) is never in a feed we write
        root = ElementTree.fromstring(text)  # noqa: S314 - no DTD, so no entity expands
    except (LookupError, UnicodeDecodeError, ElementTree.ParseError):
        return None, 0  # a feed that is not readable shows nothing
    items: list[tuple[str | None, str | None]]
    if fmt == "rss":
        items = [(i.findtext("guid"), i.findtext("description")) for i in root.iter("item")]
    else:
        items = [
            (
                e.findtext(f"{_ATOM}id", "").removeprefix("urn:syndicate:"),
                e.findtext(f"{_ATOM}content"),
            )
            for e in root.iter(f"{_ATOM}entry")
        ]
    for found, body in items:
        if found == key:
            return (body or "").split("\n"), len(items)
    return None, len(items)


# --- the items of a screen ----------------------------------------------------------

STATE_VERSION = 1


Change = Callable[
    [list[dict[str, Any]], Mapping[str, Any], Screen, datetime], tuple[list[dict[str, Any]], str]
]


def _write_screen(
    screen: Screen, item: Mapping[str, Any], now: datetime, change: Change
) -> tuple[list[dict[str, Any]], str, dict[str, bytes]]:
    """Change the screen's items by ``item`` and rewrite its files; the feeds by file name."""
    items, status = change(_read_state(screen.state_path), item, screen, now)
    _write_atomic(screen.state_path, _dump_state(items))
    feeds = {}
    for fmt in screen.format:
        content = _feed_bytes(screen, fmt, items, now)
        _write_atomic(screen.path[fmt], content)
        feeds[screen.path[fmt].name] = content
    return items, status, feeds


def _read_state(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        data = json.loads(raw)
        items = data["items"]
        if data.get("version") != STATE_VERSION or not isinstance(items, list):
            raise ValueError("unknown layout")
        return [dict(i) for i in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentDeliveryError(f"screen item file {path} is unreadable: {exc}") from None


def _dump_state(items: list[dict[str, Any]]) -> bytes:
    data = {"version": STATE_VERSION, "items": items}
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _merge(
    items: list[dict[str, Any]], item: Mapping[str, Any], screen: Screen, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """The screen's items after adding ``item``: one per notice, unexpired, newest first."""
    newer = [
        i for i in items if i["notice_id"] == item["notice_id"] and i["version"] > item["version"]
    ]
    status = "superseded" if newer else "written"
    if not newer:
        items = [i for i in items if i["notice_id"] != item["notice_id"]]
        items.append(
            {
                "id": item["id"],
                "notice_id": item["notice_id"],
                "version": item["version"],
                "lines": item["screens"][screen.name],
                "published": item["published"],
                "valid_until": item["valid_until"],
                "updated": now.isoformat(),
            }
        )
    if not newer and _expired(item, now):
        status = "expired"
    live = [i for i in items if not _expired(i, now)]
    live.sort(key=lambda i: (datetime.fromisoformat(i["published"]), i["id"]), reverse=True)
    return live[: screen.max_items], status


def _remove(
    items: list[dict[str, Any]], removal: Mapping[str, Any], screen: Screen, now: datetime
) -> tuple[list[dict[str, Any]], str]:
    """The screen's items without the notice's (up to the removal's version)."""

    def gone(i: Mapping[str, Any]) -> bool:
        return bool(i["notice_id"] == removal["notice_id"] and i["version"] <= removal["version"])

    kept = [i for i in items if not gone(i) and not _expired(i, now)]
    status = "removed" if any(gone(i) for i in items) else "absent"
    return kept[: screen.max_items], status


def _expired(item: Mapping[str, Any], now: datetime) -> bool:
    until = item.get("valid_until")
    return until is not None and datetime.fromisoformat(until) <= now


def _feed_bytes(screen: Screen, fmt: Format, items: list[dict[str, Any]], now: datetime) -> bytes:
    fg = FeedGenerator()
    fg.title(screen.feed_title)
    fg.link(href=screen.link, rel="alternate")
    fg.description(screen.feed_title)
    fg.id(screen.link)
    fg.language("zh-CN")
    fg.generator("syndicate")
    fg.updated(now)
    fg.lastBuildDate(now)
    for item in items:
        lines: list[str] = item["lines"]
        entry = fg.add_entry(order="append")
        # Atom ids must be absolute IRIs; RSS guids may be any stable string.
        entry.id(item["id"] if fmt == "rss" else f"urn:syndicate:{item['id']}")
        if fmt == "rss":
            entry.guid(item["id"], permalink=False)
        entry.title(lines[0] if lines else item["id"])
        entry.published(datetime.fromisoformat(item["published"]))
        entry.updated(datetime.fromisoformat(item["updated"]))
        if fmt == "rss":
            entry.description("\n".join(lines))
        else:
            entry.content("\n".join(lines), type="text")
    encoding = screen.encoding.upper()
    out: bytes = (
        fg.rss_str(pretty=True, encoding=encoding)
        if fmt == "rss"
        else fg.atom_str(pretty=True, encoding=encoding)
    )
    return out


def _write_atomic(path: Path, content: bytes) -> None:
    """Replace ``path`` with ``content`` so a reader sees the old file or the new, never half."""
    write_atomic(path, content)
