"""Routing: which channels a notice goes to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .adapter import Adapter
from .config import Config, RouteMatch
from .errors import NoticeError, Problem, UnroutableNotice
from .notice import Notice


def _region_matches(patterns: list[str], code: str) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if code.startswith(pattern[:-1]):
                return True
        elif code == pattern:
            return True
    return False


def matches(match: RouteMatch, notice: Notice) -> bool:
    if match.category is not None and notice.category not in match.category:
        return False
    if match.notice_type is not None and notice.notice_type not in match.notice_type:
        return False
    return match.region is None or _region_matches(match.region, notice.region_code)


def route(notice: Notice, config: Config) -> list[str]:
    """The enabled channels that must carry ``notice``, in configuration order.

    An explicit ``channels`` list on the notice replaces the routes. A notice
    that no channel would carry is refused, never silently dropped.
    """
    if notice.channels is not None:
        problems = []
        for i, name in enumerate(notice.channels):
            if name not in config.channels:
                problems.append(Problem(f"channels.{i}", f"unknown channel {name!r}"))
            elif not config.channels[name].settings.enabled:
                problems.append(Problem(f"channels.{i}", f"channel {name!r} is disabled"))
        if problems:
            raise NoticeError(problems)
        chosen = set(notice.channels)
    else:
        chosen = set()
        for r in config.routes:
            if matches(r.match, notice):
                chosen.update(c for c in r.channels if config.channels[c].settings.enabled)
    names = [name for name in config.channels if name in chosen]
    if not names:
        # With no routes at all nothing is carried: say where the fix goes.
        hint = "" if config.routes else " (channels.yaml has no routes: add one under routes:)"
        raise UnroutableNotice(
            [
                Problem(
                    "",
                    f"no enabled channel carries {notice.category.value}/"
                    f"{notice.notice_type.value} notices for region {notice.region_code}" + hint,
                )
            ]
        )
    return names


def check_channels(notice: Notice, names: list[str], adapters: Mapping[str, Adapter[Any]]) -> None:
    """Refuse ``notice`` if a routed channel's adapter says it cannot carry it."""
    problems = []
    for name in names:
        for message in adapters[name].check(notice):
            problems.append(Problem("", f"channel {name!r} needs {message}"))
    if problems:
        raise NoticeError(problems)


def approval_steps(notice: Notice, config: Config) -> tuple[str, ...]:
    """The steps ``notice`` must pass, in order: the first matching entry's; () for none."""
    for rule in config.approvals:
        if matches(rule.match, notice):
            return tuple(rule.steps)
    return ()
