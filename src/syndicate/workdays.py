"""Working days on the State Council's holiday schedule, with its make-up workdays (调休).

Two sources, asked in this order: the operator's override file (one entry
per year, for a schedule the package does not know yet, or to correct one),
then the ``chinesecalendar`` package. A day in a year neither covers is a
``CalendarGap`` naming the year: a working-day period is never guessed.

The override file (``calendar.overrides`` in channels.yaml)::

    2027:                             # 国务院办公厅关于2027年部分节假日安排的通知
      holidays:                       # 放假: days off, weekends inside a range included
        - 2027-01-01
        - 2027-02-05 .. 2027-02-11
      workdays: [2027-02-14]          # 调休上班: weekend days worked
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar

from .errors import ConfigError, Problem, SyndicateError
from .yamlsource import YamlDocument, load_yaml

MAX_OVERRIDE_BYTES = 200_000


class CalendarGap(SyndicateError):
    """No source knows the holiday schedule of ``year``."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"no working-day calendar covers {year}: add the State Council's {year} holiday "
            f"schedule to the calendar override file (calendar.overrides in channels.yaml)"
        )


@dataclass(frozen=True)
class YearSchedule:
    """One year's schedule: weekdays off and weekend days worked."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_workday(self, day: date) -> bool:
        return day in self.workdays or (day.weekday() < 5 and day not in self.holidays)


@dataclass(frozen=True)
class WorkdayCalendar:
    """Is a day a working day? Override years first, then the chinesecalendar package."""

    overrides: Mapping[int, YearSchedule] = field(default_factory=dict)
    source: str | None = None  # the override file, for messages

    def covers(self, year: int) -> bool:
        if year in self.overrides:
            return True
        first, last = package_years()
        return first <= year <= last

    def is_workday(self, day: date) -> bool:
        schedule = self.overrides.get(day.year)
        if schedule is not None:
            return schedule.is_workday(day)
        if not self.covers(day.year):
            raise CalendarGap(day.year)
        return bool(chinese_calendar.is_workday(day))

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (the first day not counted)."""
        count, day = 0, start + timedelta(days=1)
        while day <= end:
            count += self.is_workday(day)
            day += timedelta(days=1)
        return count

    def add_workdays(self, start: date, n: int) -> date:
        """The ``n``-th working day after ``start``."""
        day = start
        while n > 0:
            day += timedelta(days=1)
            n -= self.is_workday(day)
        return day


def package_years() -> tuple[int, int]:
    """The first and last year the chinesecalendar package knows."""
    years = [d.year for d in chinese_calendar.holidays]
    return min(years), max(years)


_NOT_A_DAY = "not a date (YYYY-MM-DD) or a range (YYYY-MM-DD .. YYYY-MM-DD)"
_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})\s*$")


def _days(value: Any) -> list[date]:
    """A date, ``"YYYY-MM-DD"`` or ``"YYYY-MM-DD .. YYYY-MM-DD"`` as the days it names."""
    if isinstance(value, date):
        return [value]
    if isinstance(value, str):
        m = _RANGE.match(value)
        try:
            if m is None:
                return [date.fromisoformat(value.strip())]
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
        except ValueError:
            raise ValueError(_NOT_A_DAY) from None
        if last < first:
            raise ValueError(f"the range ends ({last}) before it starts ({first})")
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]
    raise ValueError(_NOT_A_DAY)


def _year(doc: YamlDocument, key: str, raw: Any, problems: list[Problem]) -> YearSchedule | None:
    src = doc.source
    if not key.isdigit() or not 2000 <= int(key) <= 2200:
        problems.append(Problem(key, "a year (2000 to 2200) is expected", src, doc.line_of((key,))))
        return None
    year = int(key)
    if not isinstance(raw, dict):
        problems.append(
            Problem(key, "must be a mapping with holidays and workdays", src, doc.line_of((key,)))
        )
        return None
    for unknown in sorted(set(raw) - {"holidays", "workdays"}):
        problems.append(
            Problem(f"{key}.{unknown}", "unknown key", src, doc.line_of((key, unknown)))
        )
    found: dict[str, set[date]] = {"holidays": set(), "workdays": set()}
    for kind, days in found.items():
        items = raw.get(kind, [])
        if not isinstance(items, list):
            problems.append(
                Problem(f"{key}.{kind}", "must be a list of dates", src, doc.line_of((key, kind)))
            )
            continue
        for i, item in enumerate(items):
            where = (key, kind, i)
            try:
                named = _days(item)
            except ValueError as exc:
                problems.append(Problem(f"{key}.{kind}.{i}", str(exc), src, doc.line_of(where)))
                continue
            outside = [d for d in named if d.year != year]
            if outside:
                message = f"{outside[0]} is not in {year}"
                problems.append(Problem(f"{key}.{kind}.{i}", message, src, doc.line_of(where)))
                continue
            weekdays = [d for d in named if d.weekday() < 5]
            if kind == "workdays" and weekdays:
                problems.append(
                    Problem(
                        f"{key}.{kind}.{i}",
                        f"{weekdays[0]} is a weekday already; workdays lists weekend days worked",
                        src,
                        doc.line_of(where),
                    )
                )
                continue
            days.update(named)
    both = sorted(found["holidays"] & found["workdays"])
    if both:
        problems.append(
            Problem(key, f"{both[0]} is both a holiday and a workday", src, doc.line_of((key,)))
        )
    return YearSchedule(frozenset(found["holidays"]), frozenset(found["workdays"]))


def parse_overrides(text: str, source: str) -> WorkdayCalendar:
    """A calendar from override ``text``; ConfigError naming file and line of every mistake."""
    doc, problems = load_yaml(text, source)
    if doc is None:
        raise ConfigError(problems)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the top level must be a mapping of years", source, 1)])
    years: dict[int, YearSchedule] = {}
    for key, raw in data.items():
        schedule = _year(doc, str(key), raw, problems)
        if schedule is not None:
            years[int(key)] = schedule
    if problems:
        raise ConfigError(problems)
    return WorkdayCalendar(years, source)


def load_overrides(path: Path) -> WorkdayCalendar:
    """Read the override file at ``path``."""
    source = str(path)
    try:
        if path.stat().st_size > MAX_OVERRIDE_BYTES:
            raise ConfigError([Problem("", "too large for a calendar file", source)])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", "file not found", source)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"not UTF-8 text (byte {exc.start})", source)]) from None
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read: {exc.strerror}", source)]) from None
    return parse_overrides(text, source)
