"""The working-day calendar against the State Council's published schedules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from syndicate.config import load_config
from syndicate.errors import ConfigError
from syndicate.registry import AdapterRegistry
from syndicate.workdays import CalendarGap, WorkdayCalendar, package_years, parse_overrides

CAL = WorkdayCalendar()


def days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# 国务院办公厅 notices on the holiday schedules: the days off and the make-up workdays.
SCHEDULES = {
    "spring festival 2025": (days("2025-01-28", "2025-02-04"), ["2025-01-26", "2025-02-08"]),
    "national day 2025": (days("2025-10-01", "2025-10-08"), ["2025-09-28", "2025-10-11"]),
    "spring festival 2026": (days("2026-02-15", "2026-02-23"), ["2026-02-14", "2026-02-28"]),
    "national day 2026": (days("2026-10-01", "2026-10-07"), ["2026-09-20", "2026-10-10"]),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_holidays_and_make_up_days_follow_the_schedule(name: str) -> None:
    off, worked = SCHEDULES[name]
    assert [d for d in off if CAL.is_workday(d)] == []
    # The make-up days fall on a weekend and are working days all the same.
    for day in map(date.fromisoformat, worked):
        assert day.weekday() >= 5
        assert CAL.is_workday(day), day


def test_ordinary_weeks_are_monday_to_friday() -> None:
    week = days("2026-11-16", "2026-11-22")
    assert [CAL.is_workday(d) for d in week] == [True] * 5 + [False] * 2


def test_counting_skips_the_first_day_and_the_holidays() -> None:
    # Single-source publicity from Tuesday 2025-09-30: National Day week off, Saturday 10-11 worked.
    start = date(2025, 9, 30)
    assert CAL.workdays_between(start, date(2025, 10, 8)) == 0
    assert CAL.workdays_between(start, date(2025, 10, 11)) == 3  # 9, 10, 11 (a Saturday)
    assert CAL.add_workdays(start, 5) == date(2025, 10, 14)
    assert CAL.workdays_between(date(2026, 11, 16), date(2026, 11, 16)) == 0


def test_a_year_no_source_covers_is_an_error_naming_it() -> None:
    first, last = package_years()
    with pytest.raises(CalendarGap) as caught:
        CAL.is_workday(date(last + 1, 3, 2))
    assert caught.value.year == last + 1
    assert str(last + 1) in str(caught.value)
    with pytest.raises(CalendarGap, match=str(first - 1)):
        CAL.workdays_between(date(first - 1, 12, 20), date(first, 1, 10))


OVERRIDE_2030 = """\
# 国务院办公厅关于2030年部分节假日安排的通知 (for the test: a year the package does not know)
2030:
  holidays:
    - 2030-01-01
    - 2030-02-02 .. 2030-02-08
  workdays: [2030-01-27, 2030-02-09]
"""


def test_the_override_file_covers_a_year_the_package_does_not() -> None:
    cal = parse_overrides(OVERRIDE_2030, "calendar.yaml")
    assert cal.covers(2030)
    assert not cal.is_workday(date(2030, 1, 1))
    assert not cal.is_workday(date(2030, 2, 4))  # a Monday inside the range
    assert cal.is_workday(date(2030, 2, 9))  # a Saturday worked
    assert cal.is_workday(date(2030, 2, 11))
    assert not cal.is_workday(date(2030, 2, 10))  # an ordinary Sunday
    # Years the package knows still come from the package.
    assert not cal.is_workday(date(2026, 2, 16))
    with pytest.raises(CalendarGap, match="2031"):
        cal.is_workday(date(2031, 1, 2))


def test_an_override_year_replaces_the_package_schedule() -> None:
    cal = parse_overrides("2026:\n  holidays: [2026-11-16]\n", "calendar.yaml")
    assert not cal.is_workday(date(2026, 11, 16))
    assert cal.is_workday(date(2026, 2, 16))  # the whole year comes from the file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "2030:\n  holidays: [2031-01-01]\n",
            "calendar.yaml:2: 2030.holidays.0: 2031-01-01 is not in 2030",
        ),
        ("2030:\n  holidays: [soon]\n", "calendar.yaml:2: 2030.holidays.0: not a date"),
        (
            "2030:\n  workdays: [2030-01-02]\n",
            "calendar.yaml:2: 2030.workdays.0: 2030-01-02 is a weekday already",
        ),
        (
            "2030:\n  holidays: ['2030-02-08 .. 2030-02-02']\n",
            "calendar.yaml:2: 2030.holidays.0: the range ends",
        ),
        ("2030:\n  holiday: [2030-01-01]\n", "calendar.yaml:2: 2030.holiday: unknown key"),
        ("next:\n  holidays: []\n", "calendar.yaml:1: next: a year (2000 to 2200) is expected"),
        (
            "2030:\n  holidays: [2030-02-09]\n  workdays: [2030-02-09]\n",
            "is both a holiday and a workday",
        ),
        ("- 2030-01-01\n", "the top level must be a mapping of years"),
    ],
)
def test_override_mistakes_name_file_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides(text, "calendar.yaml")
    assert expected in str(caught.value)


CHANNELS = """\
version: 1
calendar:
  overrides: {overrides}
channels:
  site:
    adapter: cms_http
    url: http://127.0.0.1:9/notices
routes:
  - channels: [site]
"""


def test_channels_yaml_names_the_override_file(
    write_config: Callable[[str], Path], registry: AdapterRegistry
) -> None:
    path = write_config(CHANNELS.format(overrides="holidays-2030.yaml"))
    (path.parent / "holidays-2030.yaml").write_text(OVERRIDE_2030, encoding="utf-8")
    config = load_config(path, registry)
    assert config.calendar.covers(2030)
    assert config.calendar.is_workday(date(2030, 2, 9))


def test_a_broken_override_file_is_a_config_error_with_its_line(
    write_config: Callable[[str], Path], registry: AdapterRegistry
) -> None:
    path = write_config(CHANNELS.format(overrides="holidays-2030.yaml"))
    (path.parent / "holidays-2030.yaml").write_text("2030:\n  holidays: [2030-13-01]\n", "utf-8")
    with pytest.raises(ConfigError, match=r"holidays-2030.yaml:2: 2030.holidays.0: not a date"):
        load_config(path, registry)
    (path.parent / "holidays-2030.yaml").unlink()
    with pytest.raises(ConfigError, match=r"holidays-2030.yaml: file not found"):
        load_config(path, registry)
