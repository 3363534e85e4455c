"""Statutory rules, checked when a notice is enqueued.

The rules are a versioned table shipped with the package (``rules.yaml``):
each names its citation, the events that start and end its clock, the
minimum or maximum, and its unit — 日 (calendar days) or 工作日 (working days
on the State Council's schedule, see ``workdays``). ``channels.yaml`` says,
per rule, whether a violation refuses the notice (``enforce``), is recorded
as a warning (``warn``, the default) or is not checked (``off``); a
required-channel rule names the channel that must carry the notice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .errors import NoticeError, Problem
from .notice import (
    LOCAL_TZ,
    Category,
    LandMethod,
    Nature,
    Notice,
    NoticeType,
    ProcurementMethod,
)
from .workdays import CalendarGap, WorkdayCalendar
from .yamlsource import YamlDocument


class Mode(StrEnum):
    enforce = "enforce"  # a violation refuses the notice
    warn = "warn"  # a violation is accepted and recorded as a warning
    off = "off"  # not checked


@dataclass(frozen=True)
class Event:
    """A date a rule's clock starts or ends at: where the notice carries it."""

    field: str
    label: str
    get: Callable[[Notice], datetime | None]


def _trading_start(n: Notice) -> datetime | None:
    block = n.land_mineral
    if block is None:
        return None
    return block.listing_start if block.method is LandMethod.listing else block.auction_at


def _in(block: str, name: str, label: str) -> tuple[str, Event]:
    def get(n: Notice) -> datetime | None:
        value: datetime | None = getattr(getattr(n, block), name, None)
        return value

    return name, Event(f"{block}.{name}", label, get)


EVENTS: dict[str, Event] = dict(
    [
        ("publish_at", Event("publish_at", "发布时间", lambda n: n.publish_at)),
        ("valid_until", Event("valid_until", "公示截止", lambda n: n.valid_until)),
        _in("deadlines", "doc_sale_start", "文件获取开始"),
        _in("deadlines", "doc_sale_end", "文件获取截止"),
        _in("deadlines", "submission_deadline", "投标截止"),
        _in("deadlines", "evaluation_report_at", "收到评标报告"),
        _in("deadlines", "award_decided_at", "确定中标、成交供应商"),
        _in("land_mineral", "listing_start", "挂牌起始"),
        _in("land_mineral", "listing_end", "挂牌截止"),
        (
            "trading_start",
            Event(
                "land_mineral.listing_start or auction_at", "招标、拍卖或挂牌开始", _trading_start
            ),
        ),
        _in("state_property", "disclosure_start", "披露开始"),
        _in("state_property", "disclosure_end", "披露截止"),
    ]
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Applies(_Strict):
    """Which notices a rule is about; an absent key matches all."""

    category: list[Category]
    notice_type: list[NoticeType] | None = None
    nature: list[Nature] | None = None
    procurement_method: list[ProcurementMethod] | None = None
    land_method: list[LandMethod] | None = None

    def matches(self, n: Notice) -> bool:
        if n.category not in self.category:
            return False
        if self.notice_type is not None and n.notice_type not in self.notice_type:
            return False
        if self.nature is not None and n.nature not in self.nature:
            return False
        if self.procurement_method is not None and (
            n.procurement is None or n.procurement.method not in self.procurement_method
        ):
            return False
        return self.land_method is None or (
            n.land_mineral is not None and n.land_mineral.method in self.land_method
        )


class Rule(_Strict):
    """One statutory rule: a period between two events, or a channel that must carry a notice."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str
    citation: str
    says: str
    verified: bool
    checked_in: str | None
    applies: Applies
    start: Literal[tuple(EVENTS)] | None = Field(default=None, alias="from")  # type: ignore[valid-type]
    end: Literal[tuple(EVENTS)] | None = Field(default=None, alias="to")  # type: ignore[valid-type]
    at_least: int | None = Field(default=None, ge=1)
    at_most: int | None = Field(default=None, ge=0)
    unit: Literal["日", "工作日"] | None = None
    requires_channel: bool = False

    @model_validator(mode="after")
    def _shape(self) -> Self:
        period = (self.start, self.end, self.unit)
        if self.requires_channel:
            if any(v is not None for v in (*period, self.at_least, self.at_most)):
                raise ValueError("a required-channel rule has no period")
        elif None in period or (self.at_least is None) == (self.at_most is None):
            raise ValueError("a period rule needs from, to, unit and one of at_least, at_most")
        return self

    def clock(self) -> tuple[Event, Event]:
        """The events that start and end a period rule's clock."""
        if self.start is None or self.end is None:
            raise ValueError(f"{self.id} is not a period rule")
        return EVENTS[self.start], EVENTS[self.end]

    @property
    def cites(self) -> str:
        return self.citation if self.verified else f"{self.citation}（引文未经核对 unverified）"


class RuleTable(_Strict):
    format: Literal[1]
    edition: str
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError("rule ids must be unique")
        return self

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


@cache
def rule_table() -> RuleTable:
    """The table shipped with this version of syndicate."""
    text = files("syndicate").joinpath("rules.yaml").read_text("utf-8")
    return RuleTable.model_validate(yaml.safe_load(text))


# --- settings from channels.yaml --------------------------------------------------


@dataclass(frozen=True)
class RuleSetting:
    """What channels.yaml says about one rule."""

    mode: Mode
    channel: str | None = None


def setting_for(rule: Rule, settings: Mapping[str, RuleSetting]) -> RuleSetting:
    """A period rule not named is checked in warn mode; a channel rule needs its channel named."""
    default = RuleSetting(Mode.off if rule.requires_channel else Mode.warn)
    return settings.get(rule.id, default)


def parse_settings(
    raw: Any, doc: YamlDocument, channels: Collection[str]
) -> tuple[dict[str, RuleSetting], list[Problem]]:
    """The ``rules:`` section of channels.yaml: ``id: mode`` or ``id: {mode, channel}``."""
    settings: dict[str, RuleSetting] = {}
    problems: list[Problem] = []

    def problem(path: tuple[str, ...], message: str) -> None:
        problems.append(Problem(".".join(path), message, doc.source, doc.line_of(path)))

    if raw is None:
        return settings, problems
    if not isinstance(raw, dict):
        problem(("rules",), "must be a mapping of rule ids to enforce, warn or off")
        return settings, problems
    table = rule_table()
    modes = ", ".join(Mode)
    for rule_id, value in raw.items():
        where = ("rules", str(rule_id))
        rule = table.get(str(rule_id))
        if rule is None:
            problem(
                where,
                f"unknown rule {rule_id!r} (see the rule table: README, Lifecycle and compliance)",
            )
            continue
        spec = {"mode": value} if not isinstance(value, dict) else value
        for key in sorted(set(spec) - {"mode", "channel"}):
            problem((*where, str(key)), "unknown key (mode, channel)")
        mode, channel = spec.get("mode", Mode.enforce.value), spec.get("channel")
        if mode not in set(Mode):
            problem((*where, "mode") if isinstance(value, dict) else where, f"must be {modes}")
            continue
        if channel is not None and not rule.requires_channel:
            problem((*where, "channel"), "only a required-channel rule names a channel")
            continue
        if rule.requires_channel and channel is None and mode != Mode.off:
            problem(where, "names no channel: give {mode: ..., channel: NAME}")
            continue
        if channel is not None and channel not in channels:
            problem((*where, "channel"), f"unknown channel {channel!r}")
            continue
        settings[rule.id] = RuleSetting(Mode(mode), channel)
    return settings, problems


# --- checking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What one rule says about a notice; ``refuse`` stops it, else it is a warning."""

    rule: str
    problem: Problem
    refuse: bool


def _local(value: datetime) -> date:
    return value.astimezone(LOCAL_TZ).date()


def _count(rule: Rule, start: date, end: date, calendar: WorkdayCalendar) -> int:
    if rule.unit == "日":
        return (end - start).days
    limit = (rule.at_least or rule.at_most or 0) + 1  # enough to decide: no year beyond is asked
    count, day = 0, start
    while day < end and count < limit:
        day += timedelta(days=1)
        count += calendar.is_workday(day)
    return count


def _bound(rule: Rule, start: date, calendar: WorkdayCalendar) -> str:
    n = rule.at_least if rule.at_least is not None else rule.at_most
    assert n is not None
    try:
        day = start + timedelta(days=n) if rule.unit == "日" else calendar.add_workdays(start, n)
    except CalendarGap:
        return ""
    return f"; earliest allowed {day}" if rule.at_least is not None else f"; latest allowed {day}"


def _period(notice: Notice, rule: Rule, calendar: WorkdayCalendar) -> Problem | None:
    first, last = rule.clock()
    head = f"{rule.cites} [{rule.id}]"
    begun, ended = first.get(notice), last.get(notice)
    if begun is None or ended is None:
        missing = [e for e, v in ((first, begun), (last, ended)) if v is None]
        what = ", ".join(f"{e.field} ({e.label})" for e in missing)
        return Problem(missing[0].field, f"{head} cannot be checked: the notice has no {what}")
    start, end = _local(begun), _local(ended)
    try:
        n = _count(rule, start, end, calendar)
    except CalendarGap as exc:
        return Problem(last.field, f"{head} counts 工作日 from {start} to {end}, but {exc}")
    if rule.at_least is not None and n < rule.at_least:
        need = f"at least {rule.at_least} {rule.unit} required"
    elif rule.at_most is not None and n > rule.at_most:
        need = f"at most {rule.at_most} {rule.unit} allowed"
    else:
        return None
    # Working days are counted only as far as the answer needs: past the maximum, "more than".
    over = rule.unit == "工作日" and rule.at_most is not None and n > rule.at_most
    shown = f"more than {rule.at_most}" if over else str(n)
    return Problem(
        last.field,
        f"{head} {rule.title}: from {first.field} ({first.label}) {start} to {last.field} "
        f"({last.label}) {end} is {shown} {rule.unit}; {need}{_bound(rule, start, calendar)}",
    )


def _out_of_order(notice: Notice, rule: Rule) -> Problem | None:
    first, last = rule.clock()
    begun, ended = first.get(notice), last.get(notice)
    if begun is None or ended is None or ended >= begun:
        return None
    return Problem(
        last.field,
        f"dates in the wrong order: {last.field} ({last.label}) {ended.isoformat()} is before "
        f"{first.field} ({first.label}) {begun.isoformat()} [{rule.id}]",
    )


def findings(
    notice: Notice,
    channels: Collection[str],
    settings: Mapping[str, RuleSetting],
    calendar: WorkdayCalendar,
    table: RuleTable | None = None,
) -> list[Finding]:
    """Every rule's word on ``notice`` routed to ``channels``."""
    found = []
    for rule in (table or rule_table()).rules:
        setting = setting_for(rule, settings)
        if setting.mode is Mode.off or not rule.applies.matches(notice):
            continue
        refuse = setting.mode is Mode.enforce
        if rule.requires_channel:
            if setting.channel not in channels:
                message = (
                    f"{rule.cites} [{rule.id}] {rule.title}: "
                    f"{notice.category.value}/{notice.notice_type.value} notices must go to "
                    f"channel {setting.channel!r}, which this notice would miss"
                )
                found.append(Finding(rule.id, Problem("channels", message), refuse))
            continue
        wrong = _out_of_order(notice, rule)
        if wrong is not None:  # bad input, whatever the mode
            found.append(Finding(rule.id, wrong, True))
            continue
        problem = _period(notice, rule, calendar)
        if problem is not None:
            found.append(Finding(rule.id, problem, refuse))
    return found


def check(
    notice: Notice,
    channels: Collection[str],
    settings: Mapping[str, RuleSetting],
    calendar: WorkdayCalendar,
) -> list[tuple[str, str]]:
    """Refuse ``notice`` if an enforced rule is broken; else the warnings, as (rule id, message)."""
    found = findings(notice, channels, settings, calendar)
    refused = [f.problem for f in found if f.refuse]
    if refused:
        raise NoticeError(refused)
    return [(f.rule, str(f.problem)) for f in found]


def describe(settings: Mapping[str, RuleSetting]) -> list[dict[str, Any]]:
    """The table as configured: one row per rule, for ``syndicate rules``."""
    rows = []
    for rule in rule_table().rules:
        setting = setting_for(rule, settings)
        if rule.requires_channel:
            clock = f"must go to channel {setting.channel}" if setting.channel else "(no channel)"
        else:
            op, n = ("≥", rule.at_least) if rule.at_least is not None else ("≤", rule.at_most)
            clock = f"{rule.start} → {rule.end} {op} {n} {rule.unit}"
        rows.append(
            {
                "id": rule.id,
                "mode": setting.mode.value,
                "clock": clock,
                "citation": rule.citation,
                "verified": rule.verified,
                "applies": rule.applies.model_dump(mode="json", exclude_none=True),
            }
        )
    return rows
