"""Reading a page's filter form: empty fields mean "any", a bad value names its field."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from ...errors import Problem, QueryError
from ...notice import LOCAL_TZ


def text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def day_start(field: str, value: str | None) -> float | None:
    """A date from an ``<input type=date>`` as the start of that day in Asia/Shanghai."""
    value = text(value)
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise QueryError([Problem(field, f"not a date: {value!r} (YYYY-MM-DD)")]) from None
    return datetime.combine(day, time(0), LOCAL_TZ).timestamp()


def day_end(field: str, value: str | None) -> float | None:
    """The end of the given day (exclusive): a range "until 5 May" includes 5 May."""
    start = day_start(field, value)
    if start is None:
        return None
    day = datetime.fromtimestamp(start, LOCAL_TZ).date() + timedelta(days=1)
    return datetime.combine(day, time(0), LOCAL_TZ).timestamp()


def choice(field: str, value: str | None, allowed: list[str] | tuple[str, ...]) -> str | None:
    value = text(value)
    if value is not None and value not in allowed:
        raise QueryError([Problem(field, f"must be one of {', '.join(allowed)}")])
    return value
