"""channels.yaml: the operator's file, parsed into typed settings.

Every problem is reported with file, line and field, all of them at once::

    channels.yaml:14: channels.city-portal.url: not a valid URL

Secrets never stand in the file: a value may be ``${ENV_VAR}`` (from the
environment) and a secret field ``token`` may be given as ``token_file``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from .adapter import Adapter, Options
from .approval import duplicate_steps
from .attachments import file_identity
from .errors import ConfigError, Problem, StoreError
from .notice import Category, NoticeType, RegionCode, problems_from_validation
from .registry import AdapterRegistry, UnknownAdapter
from .rules import RuleSetting, parse_settings
from .store.url import parse_store_url
from .workdays import WorkdayCalendar, load_overrides
from .yamlsource import YamlDocument, load_yaml

DEFAULT_CONFIG = "channels.yaml"
MAX_CONFIG_BYTES = 1_000_000
CONFIG_ENV = "SYNDICATE_CONFIG"

M = TypeVar("M", bound=BaseModel)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``"500ms"``, ``"2s"``, ``"10m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError("expected a duration such as 30s, 10m or 1h")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError("a duration must be a finite number of seconds, not negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ChannelName = Annotated[str, Field(pattern=_CHANNEL_NAME.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Strict):
    """How often and how long a channel is retried after transient errors."""

    max_attempts: int = Field(default=8, ge=1, le=1000)
    initial_delay: Duration = 2.0
    multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_delay: Duration = 600.0
    jitter: Duration = 1.0
    deadline: Duration | None = 86400.0


class CircuitSettings(_Strict):
    """When a channel that keeps failing is left alone for a while."""

    failures: int = Field(default=5, ge=1, le=10_000, description="consecutive transient failures")
    cool_down: Duration = Field(default=30.0, gt=0, description="then one probe is let through")


class ChannelSettings(_Strict):
    """The keys every channel has, whatever its adapter."""

    adapter: str
    description: str | None = None
    enabled: bool = True
    concurrency: int = Field(default=4, ge=1, le=256)
    rate_limit: float | None = Field(default=None, gt=0, description="deliveries per second")
    timeout: Duration = Field(default=60.0, gt=0)
    retry: RetryPolicy = RetryPolicy()
    circuit_breaker: CircuitSettings = CircuitSettings()
    fetch_back: Duration | None = Field(
        default=None, gt=0, description="read delivered notices back this often (fetch-back --due)"
    )


COMMON_KEYS = frozenset(ChannelSettings.model_fields)


class Defaults(_Strict):
    """Channel settings that apply where a channel says nothing."""

    concurrency: int = Field(default=4, ge=1, le=256)
    rate_limit: float | None = Field(default=None, gt=0)
    timeout: Duration = Field(default=60.0, gt=0)
    retry: dict[str, Any] = Field(default_factory=dict)
    circuit_breaker: CircuitSettings = CircuitSettings()


class StoreSettings(_Strict):
    """Where the ledger lives: ``sqlite:///path`` (relative to this file), a plain path,
    or ``postgresql://user@host/database``; ``notify: false`` makes PostgreSQL workers poll only.
    """

    url: str = "sqlite:///syndicate.db"
    notify: bool = True

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        try:
            parse_store_url(url)
        except StoreError as exc:
            raise ValueError(str(exc)) from None
        return url


class AttachmentSettings(_Strict):
    """Where notices' local attachment files are: ``root``, relative to this file.

    A folder of its own: never the folder of channels.yaml, which holds its secrets.
    """

    root: str = "attachments"


class CalendarSettings(_Strict):
    """The working-day calendar: ``overrides`` names a schedule file, relative to this file."""

    overrides: str | None = None


class WorkerSettings(_Strict):
    lease: Duration = Field(default=120.0, gt=0)
    batch: int = Field(default=200, ge=1, le=10_000)
    poll_interval: Duration = Field(default=0.02, gt=0, le=60)
    grace: Duration = Field(default=30.0, ge=0)


class ApiSettings(_Strict):
    """What ``syndicate serve`` takes in one request."""

    max_batch: int = Field(default=100, ge=1, le=10_000, description="notices in one POST")
    max_body: int = Field(default=4_000_000, ge=1024, description="bytes in one request body")
    open_docs: bool = Field(
        default=False, description="serve /openapi.json and /docs without a token"
    )


Incident = Literal[
    "failed", "dead", "circuit_open", "circuit_closed", "fetch_back_mismatch", "fetch_back_missing"
]
INCIDENTS: tuple[Incident, ...] = (
    "failed",
    "dead",
    "circuit_open",
    "circuit_closed",
    "fetch_back_mismatch",
    "fetch_back_missing",
)


class AlertSettings(_Strict):
    """Where operators hear of incidents: each one once, as a delivery of its own."""

    channels: list[ChannelName] = Field(
        min_length=1, description="the channels that carry alerts (an operators' inbox)"
    )
    incidents: list[Incident] = Field(
        default_factory=lambda: list(INCIDENTS),
        min_length=1,
        description="which incidents are told: failed, dead, circuit_open, circuit_closed, "
        "fetch_back_mismatch, fetch_back_missing",
    )
    region_code: RegionCode = Field(description="the region an alert is filed under")
    publisher: str = Field(default="syndicate", min_length=1, max_length=200)


class AnchorSettings(_Strict):
    """Where ``verify --anchor-channel`` sends the chain's head: a channel of its own."""

    channel: ChannelName = Field(
        description="the channel that carries each anchor (e.g. mail to the 纪检 office)"
    )
    region_code: RegionCode = Field(description="the region an anchor message is filed under")
    publisher: str = Field(default="syndicate", min_length=1, max_length=200)


class AuditSettings(_Strict):
    """The audit's own settings."""

    anchor: AnchorSettings | None = None


class RouteMatch(_Strict):
    """A route matches a notice when every given key matches (an absent key matches all)."""

    category: list[Category] | None = None
    notice_type: list[NoticeType] | None = None
    region: list[Annotated[str, Field(pattern=r"^[0-9]{1,6}\*?$")]] | None = Field(
        default=None, description="region codes; a trailing * matches a prefix, e.g. 4416*"
    )


class Route(_Strict):
    match: RouteMatch = RouteMatch()
    channels: list[ChannelName] = Field(min_length=1)


def _step_name(name: str) -> str:
    if name != name.strip() or not name:
        raise ValueError("a step's name is not empty and neither begins nor ends with a space")
    return name


StepName = Annotated[str, Field(max_length=64), AfterValidator(_step_name)]


class ApprovalRule(_Strict):
    """The approval steps, in order, of the notices an entry matches (the first entry that does)."""

    match: RouteMatch = RouteMatch()
    steps: list[StepName]

    @field_validator("steps")
    @classmethod
    def _some_steps(cls, steps: list[str]) -> list[str]:
        if not steps:
            raise ValueError("at least one step (leave the entry out for no approval)")
        return steps


class _File(_Strict):
    version: Literal[1] = 1
    store: StoreSettings = StoreSettings()
    worker: WorkerSettings = WorkerSettings()
    attachments: AttachmentSettings = AttachmentSettings()
    api: ApiSettings = ApiSettings()
    defaults: Defaults = Defaults()
    calendar: CalendarSettings = CalendarSettings()
    channels: dict[ChannelName, Any] = Field(min_length=1)
    routes: list[Route] = Field(default_factory=list)
    approvals: list[ApprovalRule] = Field(default_factory=list)
    alerts: AlertSettings | None = None
    audit: AuditSettings = AuditSettings()
    rules: Any = None  # checked by syndicate.rules.parse_settings


@dataclass(frozen=True)
class Channel:
    """One configured destination: its name, settings and adapter options."""

    name: str
    settings: ChannelSettings
    kind: type[Adapter[Any]]
    options: Options
    attachments_root: Path = field(default_factory=Path.cwd)
    secret_files: frozenset[tuple[int, int]] = frozenset()
    # False when loaded for reading the ledger only and an environment variable the
    # options need (a secret) is not set: such a channel is listed but cannot send.
    sendable: bool = True


@dataclass(frozen=True)
class Config:
    """A validated channels.yaml."""

    source: str
    base_dir: Path
    store: StoreSettings
    worker: WorkerSettings
    channels: dict[str, Channel]
    routes: list[Route] = field(default_factory=list)
    calendar: WorkdayCalendar = field(default_factory=WorkdayCalendar)
    api: ApiSettings = field(default_factory=ApiSettings)
    rules: dict[str, RuleSetting] = field(default_factory=dict)
    approvals: list[ApprovalRule] = field(default_factory=list)
    alerts: AlertSettings | None = None
    audit: AuditSettings = field(default_factory=AuditSettings)

    def store_url(self) -> str:
        """The store URL with a relative SQLite path made absolute against the config's folder."""
        return str(parse_store_url(self.store.url, self.base_dir))


_ENV = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(
    doc: YamlDocument,
    env: dict[str, str],
    problems: list[Problem],
    unset: set[tuple[str | int, ...]] | None = None,
) -> Any:
    """``${NAME}`` replaced from ``env``; a variable not set is a problem, or noted in ``unset``."""

    def walk(value: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:

            def sub(m: re.Match[str]) -> str:
                if m.group(1):  # $${X} is a literal ${X}
                    return "${" + m.group(2) + "}"
                name = m.group(2)
                if name not in env and unset is not None:
                    unset.add(path)
                    return ""
                if name not in env:
                    problems.append(
                        Problem(
                            _dotted(path),
                            f"environment variable {name} is not set",
                            doc.source,
                            doc.line_of(path),
                        )
                    )
                    return ""
                return env[name]

            return _ENV.sub(sub, value)
        return value

    return walk(doc.data, ())


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def _locate(
    doc: YamlDocument, problems: list[Problem], prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    located = []
    for p in problems:
        parts: list[str | int] = [*prefix]
        for part in p.path.split(".") if p.path else []:
            parts.append(int(part) if part.isdigit() else part)
        path = _as_written(doc, tuple(parts), missing=p.message == "Field required")
        located.append(Problem(_dotted(path), p.message, doc.source, doc.line_of(path)))
    return located


def _as_written(
    doc: YamlDocument, path: tuple[str | int, ...], *, missing: bool = False
) -> tuple[str | int, ...]:
    """The path as the file spells it, without the union tags pydantic adds (auth.bearer.token).

    For a missing key the last part is the key that should be there: it is kept.
    """
    if missing and path:
        return (*_as_written(doc, path[:-1]), path[-1])
    if path in doc.lines:
        return path
    for i in range(len(path) - 1, 0, -1):
        shorter = path[:i] + path[i + 1 :]
        if shorter in doc.lines:
            return shorter
    return path


def _maybe(model: type[M], raw: Any) -> M | None:
    """``raw`` as ``model`` if valid (its problems are reported elsewhere), else None."""
    try:
        return model.model_validate(raw or {})
    except ValidationError:
        return None


def _without_follow_ons(problems: list[Problem]) -> list[Problem]:
    """Drop what a missing environment variable caused: the empty value is not news."""
    missing = {p.path for p in problems if p.message.startswith("environment variable ")}
    bad_keys = {p.path for p in problems if p.message == "mapping keys must be plain text"}
    return [
        p
        for p in problems
        if (p.path not in missing or p.message.startswith("environment variable "))
        and not (p.path in bad_keys and p.message.startswith("Dictionary should have at least"))
    ]


_SECRET_FILE_KEYS = ("_file", "known_hosts", "private_key", "key_file", "ca_file")


def _secret_files(data: Any, folder: Path, source: str) -> frozenset[tuple[int, int]]:
    """Identities of every file the configuration names, and of itself: never attachable."""
    found: set[tuple[int, int]] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if (
                    isinstance(key, str)
                    and key.endswith(_SECRET_FILE_KEYS)
                    and isinstance(item, str)
                ):
                    path = Path(item)
                    identity = file_identity(path if path.is_absolute() else folder / path)
                    if identity is not None:
                        found.add(identity)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    for path in (Path(source), folder / Path(source).name):
        identity = file_identity(path)
        if identity is not None:
            found.add(identity)
    return frozenset(found)


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(
    path: str | os.PathLike[str],
    registry: AdapterRegistry,
    *,
    env: dict[str, str] | None = None,
    read_only: bool = False,
) -> Config:
    """Read and validate ``path``; raise ConfigError listing every problem.

    ``read_only``: for commands that only read the ledger. A channel whose
    options name an environment variable that is not set (its secret, say) is
    kept by name, not sendable, instead of being an error.
    """
    path = Path(path)
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                [
                    Problem(
                        "", f"too large for a channels file ({size:,} bytes; at most 1 MB)", source
                    )
                ]
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", "file not found", source)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"not UTF-8 text (byte {exc.start})", source)]) from None
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read: {exc.strerror}", source)]) from None
    return parse_config(
        text, source, registry, base_dir=path.parent.resolve(), env=env, read_only=read_only
    )


def parse_config(
    text: str,
    source: str,
    registry: AdapterRegistry,
    *,
    base_dir: Path | None = None,
    env: dict[str, str] | None = None,
    read_only: bool = False,
) -> Config:
    """Validate config ``text``; ``source`` names it in messages; ``read_only``: see load_config."""
    doc, problems = load_yaml(text, source)
    if doc is None:
        raise ConfigError(problems)
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [
                *problems,
                Problem("", "the top level must be a mapping (store, channels, routes)", source, 1),
            ]
        )
    unset: set[tuple[str | int, ...]] | None = set() if read_only else None
    data = _interpolate(doc, dict(os.environ if env is None else env), problems, unset)
    if unset:
        # Only the channels' options may go without: the store and the worker cannot.
        for path in [p for p in unset if p[:1] != ("channels",) or len(p) < 3]:
            unset.discard(path)
            problems.append(
                Problem(
                    _dotted(path),
                    "an environment variable here is not set",
                    source,
                    doc.line_of(path),
                )
            )

    # Each part is checked even when another is wrong, so one run lists every problem.
    top: _File | None = None
    try:
        top = _File.model_validate(data)
    except ValidationError as exc:
        problems += _locate(doc, problems_from_validation(exc))
    raw_channels = data.get("channels") if isinstance(data.get("channels"), dict) else {}
    defaults = top.defaults if top is not None else _maybe(Defaults, data.get("defaults"))
    defaults = defaults or Defaults()
    try:
        RetryPolicy.model_validate(defaults.retry)
    except ValidationError as exc:
        problems += _locate(doc, problems_from_validation(exc), ("defaults", "retry"))

    channels: dict[str, Channel] = {}
    timeouts: list[float] = []
    folder = base_dir or Path.cwd()
    attachments_root = (folder / (top.attachments.root if top else "attachments")).resolve()
    if top is not None and attachments_root == folder.resolve():
        problems.append(
            Problem(
                "attachments.root",
                "must be a folder of its own, not the folder of the channels file "
                "(it holds the configuration's secret files)",
                source,
                doc.line_of(("attachments", "root")),
            )
        )
    secret_files = _secret_files(data, folder, source)
    for name, raw in raw_channels.items():
        if not isinstance(name, str) or not _CHANNEL_NAME.match(name):
            continue  # reported by the top-level check
        if not isinstance(raw, dict):
            problems.append(
                Problem(
                    f"channels.{name}",
                    "must be a mapping of settings",
                    source,
                    doc.line_of(("channels", name)),
                )
            )
            continue
        common = {k: v for k, v in raw.items() if k in COMMON_KEYS}
        common.setdefault("concurrency", defaults.concurrency)
        common.setdefault("timeout", defaults.timeout)
        common.setdefault("circuit_breaker", defaults.circuit_breaker)
        if defaults.rate_limit is not None:
            common.setdefault("rate_limit", defaults.rate_limit)
        retry = raw.get("retry", {})
        common["retry"] = {**defaults.retry, **retry} if isinstance(retry, dict) else retry
        settings: ChannelSettings | None = None
        try:
            settings = ChannelSettings.model_validate(common)
        except ValidationError as exc:
            problems += _locate(doc, problems_from_validation(exc), ("channels", name))
        if settings is not None:
            timeouts.append(settings.timeout)
        adapter = raw.get("adapter")
        if not isinstance(adapter, str):
            continue  # reported with the settings
        try:
            kind = registry.get(adapter)
        except UnknownAdapter as exc:
            problems.append(
                Problem(
                    f"channels.{name}.adapter",
                    str(exc),
                    source,
                    doc.line_of(("channels", name, "adapter")),
                )
            )
            continue
        options_raw = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
        sendable = True
        try:
            options = kind.Options.model_validate(options_raw, context={"base_dir": base_dir})
        except ValidationError as exc:
            if not unset or not any(p[:2] == ("channels", name) for p in unset):
                problems += _locate(doc, problems_from_validation(exc), ("channels", name))
                continue
            options, sendable = kind.Options.model_construct(), False
        if settings is not None:
            channels[name] = Channel(
                name, settings, kind, options, attachments_root, secret_files, sendable
            )

    raw_routes = data.get("routes")
    for i, route in enumerate(raw_routes if isinstance(raw_routes, list) else []):
        targets = route.get("channels") if isinstance(route, dict) else None
        for j, target in enumerate(targets if isinstance(targets, list) else []):
            if isinstance(target, str) and target not in raw_channels:
                problems.append(
                    Problem(
                        f"routes.{i}.channels.{j}",
                        f"unknown channel {target!r}",
                        source,
                        doc.line_of(("routes", i, "channels", j)),
                    )
                )

    raw_approvals = data.get("approvals")
    for i, entry in enumerate(raw_approvals if isinstance(raw_approvals, list) else []):
        steps = entry.get("steps") if isinstance(entry, dict) else None
        if isinstance(steps, list):
            names = [s if isinstance(s, str) else f"\0{k}" for k, s in enumerate(steps)]
            for j in duplicate_steps(names):
                problems.append(
                    Problem(
                        f"approvals.{i}.steps.{j}",
                        f"step {steps[j]!r} is named twice",
                        source,
                        doc.line_of(("approvals", i, "steps", j)),
                    )
                )
    raw_alerts = data.get("alerts")
    targets = raw_alerts.get("channels") if isinstance(raw_alerts, dict) else None
    for j, target in enumerate(targets if isinstance(targets, list) else []):
        if isinstance(target, str) and target not in raw_channels:
            problems.append(
                Problem(
                    f"alerts.channels.{j}",
                    f"unknown channel {target!r}",
                    source,
                    doc.line_of(("alerts", "channels", j)),
                )
            )
    raw_audit = data.get("audit")
    raw_anchor = raw_audit.get("anchor") if isinstance(raw_audit, dict) else None
    target = raw_anchor.get("channel") if isinstance(raw_anchor, dict) else None
    if isinstance(target, str) and target not in raw_channels:
        problems.append(
            Problem(
                "audit.anchor.channel",
                f"unknown channel {target!r}",
                source,
                doc.line_of(("audit", "anchor", "channel")),
            )
        )

    longest = max(timeouts, default=0.0)
    worker = top.worker if top is not None else _maybe(WorkerSettings, data.get("worker"))
    if worker is not None and worker.lease <= longest:
        problems.append(
            Problem(
                "worker.lease",
                f"must be longer than the longest channel timeout ({longest:g}s)",
                source,
                doc.line_of(("worker", "lease")),
            )
        )

    rules, rule_problems = parse_settings(data.get("rules"), doc, raw_channels)
    problems += rule_problems
    calendar = WorkdayCalendar()
    if top is not None and top.calendar.overrides is not None:
        try:
            calendar = load_overrides((base_dir or Path.cwd()) / top.calendar.overrides)
        except ConfigError as exc:
            problems += exc.problems

    if problems or top is None:
        raise ConfigError(_without_follow_ons(problems))
    return Config(
        source=source,
        base_dir=base_dir or Path.cwd(),
        store=top.store,
        worker=top.worker,
        channels=channels,
        routes=list(top.routes),
        calendar=calendar,
        api=top.api,
        rules=rules,
        approvals=list(top.approvals),
        alerts=top.alerts,
        audit=top.audit,
    )
