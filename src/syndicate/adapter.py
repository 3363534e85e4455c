"""The adapter contract: what the code behind a kind of channel provides.

An adapter kind is a subclass of ``Adapter`` that declares its ``kind`` name
and its ``Options`` model (extra keys forbidden), and implements ``render``
and ``send``. It is registered under the entry-point group
``syndicate.adapters``; the engine never imports one by name.

``send`` returns a ``Receipt`` or raises ``TransientDeliveryError`` /
``PermanentDeliveryError``; any other exception is recorded as transient, so
a bug in an adapter costs retries, never the worker. ``send`` raises
``InDoubtDeliveryError`` when the request may have reached the channel but its
answer was lost (the connection broke after the request was written).

Optional: ``look_up``. A delivery whose last attempt is in doubt (that error,
or a worker that died holding it) is looked up before it is sent again: a
receipt found there records the delivery as delivered without sending; None
sends. The default finds nothing, so a channel that cannot be asked is sent
to again (and then only a receiver that honours the idempotency key avoids a
duplicate).

Purposes. Most deliveries publish a notice version (``ctx.purpose`` is
``publish``). A withdrawal takes a withdrawn notice down, an expiry one whose
``valid_until`` has come; ``ctx.previous`` then says what the channel carries
(never None: where nothing was delivered the engine sends nothing), and
``ctx.withdrawal`` the withdrawal's reason and time. A kind lists the purposes
it handles in ``purposes`` (or per configuration, ``purposes_for``); a
delivery of any other purpose ends failed with a clear reason, never reaching
``render``. An adapter written before purposes existed handles publications
only and needs no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from .attachments import AttachmentFiles
from .masking import secret_values
from .notice import Notice
from .store.base import EarlierDelivery, Purpose, Withdrawal


def config_relative(path: Path, info: ValidationInfo) -> Path:
    """``path`` as channels.yaml means it: a relative path is relative to that file's folder."""
    base_dir = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base_dir is not None:
        return Path(base_dir) / path
    return path


def _existing_file(path: Path, info: ValidationInfo) -> Path:
    path = config_relative(path, info)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return path


ConfigFile = Annotated[Path, AfterValidator(_existing_file)]
"""A file named in channels.yaml (a CA bundle, a known_hosts file): relative to it, and there."""

ConfigPath = Annotated[Path, AfterValidator(config_relative)]
"""A path named in channels.yaml that need not exist yet (an output file): relative to it."""


class Options(BaseModel):
    """Base of every adapter's options model.

    Extra keys are refused. A secret field (typed ``SecretStr``) may instead be
    given as ``<field>_file: /path``, whose content (without the trailing
    newline) becomes the secret; secrets never appear in YAML. A relative path
    is relative to the folder of channels.yaml.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name, field_info in cls.model_fields.items():
            file_key = f"{name}_file"
            if file_key not in data or not _is_secret(field_info.annotation):
                continue
            if name in data:
                raise ValueError(f"give {name} or {file_key}, not both")
            path = config_relative(Path(str(data.pop(file_key))), info)
            try:
                data[name] = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(
                    f"{file_key}: cannot read secret file {path}: {exc.strerror}"
                ) from None
        return data


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return SecretStr in getattr(annotation, "__args__", ())


@dataclass(frozen=True)
class DeliveryContext:
    """Who a payload is for: the delivery it belongs to and its stable idempotency key.

    ``previous`` is what the channel carries of the notice: for a publication
    the newest earlier version delivered there, for a withdrawal or an expiry the
    newest version delivered there (its receipt says what to update or retract);
    ``in_doubt`` says the last attempt's outcome is unknown. ``purpose`` says
    what the delivery does; ``withdrawal`` is set for a withdrawal.
    """

    channel: str
    idempotency_key: str
    delivery_id: int = 0
    attempt: int = 1
    notice_digest: str = ""
    previous: EarlierDelivery | None = None
    in_doubt: bool = False
    purpose: Purpose = Purpose.publish
    withdrawal: Withdrawal | None = None


@dataclass(frozen=True)
class Payload:
    """What one channel receives for one notice, ready to send.

    ``parts`` are named byte strings: an HTTP body, the files of a file drop,
    the source of an e-mail, a feed item. ``headers`` are protocol headers.
    ``target`` says where it goes (a URL, a remote directory, an address).
    ``data`` carries adapter-private values from render to send.
    """

    media_type: str
    parts: Mapping[str, bytes]
    headers: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """SHA-256 over every part, in name order: what the channel received."""
        h = hashlib.sha256()
        for name in sorted(self.parts):
            content = self.parts[name]
            h.update(name.encode("utf-8"))
            h.update(b"\0")
            h.update(len(content).to_bytes(8, "big"))
            h.update(content)
        return h.hexdigest()

    def preview(self) -> str:
        """A human-readable rendering of exactly what would be sent."""
        lines = [f"target: {self.target}", f"media type: {self.media_type}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        for name, content in self.parts.items():
            lines.append("")
            lines.append(f"--- {name} ({len(content)} bytes) ---")
            try:
                lines.append(content.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(f"<binary, sha256 {hashlib.sha256(content).hexdigest()}>")
        return "\n".join(lines)


@dataclass(frozen=True)
class Landed:
    """Where a delivery landed, as the channel's receipt said."""

    remote_id: str | None
    remote_url: str | None


@dataclass(frozen=True)
class HeldPart:
    """One part of a delivery's payload as the channel holds it now, read back.

    ``part`` is the payload part's name (a file drop's file, a screen's item);
    ``where`` names the copy read (a path, a URL): a part may be held in several
    places. ``size`` is None when this copy does not hold the part (a feed without
    the item); ``content`` is None when it was not read: larger than anything sent.
    """

    part: str
    where: str
    size: int | None
    content: bytes | None


@dataclass(frozen=True)
class TakenDown:
    """The channel no longer shows the delivery, and should not: the notice expired."""

    reason: str


ReadBack = str | Sequence[HeldPart] | TakenDown | None
"""What ``read_back`` found: a page's text, the payload's parts as held, taken down, or gone."""


@dataclass(frozen=True)
class Receipt:
    """What the channel answered when it took a delivery."""

    remote_id: str | None = None
    url: str | None = None
    status: str | None = None
    detail: str | None = None


OptionsT = TypeVar("OptionsT", bound=Options)
T = TypeVar("T")
AnyOptions = Options  # the base, by a name an adapter's own ``Options`` does not hide


class Adapter(ABC, Generic[OptionsT]):
    """One configured channel's adapter instance."""

    kind: ClassVar[str]
    Options: ClassVar[type[Options]]
    # The key facts (syndicate.audit.facts names) this kind of channel carries;
    # None: all of them. A summary screen carries the title only.
    facts_carried: ClassVar[frozenset[str] | None] = None
    # What deliveries this kind handles besides publications (see the module's docstring).
    purposes: ClassVar[frozenset[Purpose]] = frozenset({Purpose.publish})

    @classmethod
    def purposes_for(cls, options: AnyOptions) -> frozenset[Purpose]:
        """The purposes a channel of this kind handles with ``options`` (default: ``purposes``)."""
        return cls.purposes

    def __init__(
        self,
        channel: str,
        options: OptionsT,
        *,
        attachments: AttachmentFiles | None = None,
        concurrency: int | None = None,
    ) -> None:
        """``attachments`` reads the files notices name (attachments.root of channels.yaml);
        ``concurrency`` is how many deliveries the channel may run at once.

        A subclass taking options of its own passes the rest on as ``**setup``.
        """
        self.channel = channel
        self.options = options
        self.attachments = attachments if attachments is not None else AttachmentFiles(Path.cwd())
        self.concurrency = concurrency

    def check(self, notice: Notice) -> list[str]:
        """Problems that make ``notice`` unsendable here; checked at enqueue."""
        return []

    @abstractmethod
    def render(self, notice: Notice, ctx: DeliveryContext) -> Payload:
        """The payload this channel receives for ``notice``. Pure: sends nothing."""

    @abstractmethod
    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        """Deliver ``payload``; a Receipt or a DeliveryError."""

    async def look_up(self, notice: Notice, ctx: DeliveryContext) -> Receipt | None:
        """The receipt of this delivery if the channel already has it; None if it has not.

        Asked only when the last attempt is in doubt, before sending again. An
        error raised here leaves the delivery in doubt for the next attempt.
        """
        return None

    async def read_back(self, notice: Notice, ctx: DeliveryContext, landed: Landed) -> ReadBack:
        """What the channel publishes for this delivery now; None if it is gone.

        Optional (fetch-back verification). A page comes back as its text, in
        which the notice's key facts are looked for. A channel that holds the
        payload itself (a file drop, a feed item) gives the parts it holds
        (``HeldPart``), compared byte for byte with what the ledger says was sent;
        a part it does not hold is gone. ``TakenDown``: gone as it should be.
        Raise TransientDeliveryError when the channel cannot be reached. A channel
        that cannot be read back keeps this default and is not checked.
        """
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections; called once when the worker stops."""

    def describe(self) -> str:
        """One line saying where this channel delivers, for status and the demo."""
        return self.kind

    def secrets(self) -> list[str]:
        """Every secret this channel holds, in clear: masked wherever text is stored or shown.

        By default the options' ``SecretStr`` values; an adapter adds what it derives
        from them or keeps in plain fields (a URL's credentials, a header's value).
        """
        return secret_values(self.options)

    def warnings(self) -> list[str]:
        """What ``check`` should warn about: settings that are allowed but weaken security."""
        return []


class _DaemonThreads(Executor):
    """At most ``size`` daemon threads: a send stuck in a library never holds the process.

    (``ThreadPoolExecutor`` joins its threads at exit: one blocked read would keep a
    stopped worker alive past its grace period.)
    """

    def __init__(self, size: int, name: str) -> None:
        self._size, self._name = size, name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, functools.partial(fn, *args, **kwargs)))
        with self._lock:
            if self._idle == 0 and len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            elif self._idle > 0:
                self._idle -= 1  # an idle thread will take it
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        for _ in self._threads:
            self._queue.put(None)


class BlockingAdapter(Adapter[OptionsT]):
    """An adapter built on a blocking library; ``send_blocking`` runs in threads.

    Each channel has its own small set of threads, so a slow channel cannot take
    the threads another channel needs. When an attempt is given up (its timeout,
    or the worker stopping), ``interrupt_blocking`` is called to end the send at
    its socket: no thread is left reading for an attempt that is over.
    """

    CLOSE_WAIT = 2.0
    """How long ``aclose`` waits for ``close_blocking`` before leaving it behind."""

    def __init__(self, channel: str, options: OptionsT, **setup: Any) -> None:
        super().__init__(channel, options, **setup)
        self._pool: _DaemonThreads | None = None

    @property
    def threads(self) -> int:
        """Threads the sends run in: one per delivery the channel may run at once."""
        return self.concurrency or 4

    @abstractmethod
    def send_blocking(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        """Deliver ``payload`` from a worker thread."""

    def close_blocking(self) -> None:
        """Release connections from a worker thread."""

    def interrupt_blocking(self, ctx: DeliveryContext) -> None:
        """End ``ctx``'s send now, from the worker's loop: close its socket. Must not block."""

    async def send(self, payload: Payload, ctx: DeliveryContext) -> Receipt:
        return await self.in_thread(ctx, self.send_blocking, payload, ctx)

    async def in_thread(self, ctx: DeliveryContext, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the channel's threads; given up, it is interrupted like a send."""
        if self._pool is None:
            self._pool = _DaemonThreads(self.threads, f"syndicate-{self.channel}")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args))
        except asyncio.CancelledError:
            self.interrupt_blocking(ctx)
            raise

    async def aclose(self) -> None:
        closing: Future[None] = Future()

        def close() -> None:
            try:
                self.close_blocking()
                closing.set_result(None)
            except BaseException as exc:
                closing.set_exception(exc)

        threading.Thread(target=close, name=f"syndicate-{self.channel}-close", daemon=True).start()
        with contextlib.suppress(TimeoutError):
            # A connection stuck in a hostile peer's read is left behind, not waited for.
            await asyncio.wait_for(asyncio.wrap_future(closing), self.CLOSE_WAIT)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
