"""Operator alerts: each incident told once to the channels the ``alerts:`` section names.

Incidents: a delivery ends ``failed`` or ``dead``; a channel's circuit opens;
it closes again (the recovery, a message of its own); fetch-back finds a
published notice changed (``fetch_back_mismatch``) or gone
(``fetch_back_missing``). An alert is a notice of
kind ``alert``: stored, routed to the alert channels only, delivered with
retries and recorded like any other, but kept out of the notice lists, the
status matrix and the yearly figures. Its id is made of the incident — the
delivery and the attempt it ended on; the channel and the moment its circuit
opened — so however many workers see the incident, the ledger holds one
alert: a second enqueue finds the same notice there.

An alert never raises another: a failed alert delivery is logged only, and an
alert about a channel goes to the other alert channels, not to itself.

An alert is enqueued just after the incident is recorded, in a transaction of its
own: a worker killed between the two would leave the incident untold. So each
worker, when it starts and every ``CATCH_UP_EVERY`` seconds, looks back over the
last ``CATCH_UP_WINDOW`` for deliveries that ended failed or dead and circuits
that are open without their alert in the ledger, and tells them late.
"""

from __future__ import annotations

import hashlib
import html
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .audit.fetchback import CheckResult, FetchCheck
from .config import AlertSettings, Config, Incident
from .errors import NoticeConflict, NoticeError, StoreError
from .notice import LOCAL_TZ, Notice
from .store.base import DeliveryFilter, DeliveryState, NoticeRecord, Store

log = logging.getLogger("syndicate.alerts")

PREFIX = "ALERT-"
"""Notice ids beginning so are the alerts'; an upstream notice may not take one."""

KIND = "alert"

CATCH_UP_EVERY = 300.0
"""Seconds between a worker's looks for incidents whose alert was never enqueued."""

CATCH_UP_WINDOW = 86_400.0
"""How far back such a look goes: an incident older than a day is not told late."""

_LATE = "(told late: the worker that saw it stopped before it could tell it)"

_HEADLINES: dict[Incident, str] = {
    "failed": "投递失败 (failed)",
    "dead": "投递放弃 (dead: retries exhausted)",
    "circuit_open": "通道熔断 (circuit open)",
    "circuit_closed": "通道恢复 (circuit closed: the channel delivers again)",
    "fetch_back_mismatch": "已发布内容被改动 (fetch-back: mismatch)",
    "fetch_back_missing": "已发布内容已消失 (fetch-back: missing)",
}


@dataclass(frozen=True)
class Alert:
    """One incident, as operators are told it."""

    incident: Incident
    channel: str  # the channel it happened on
    key: str  # what makes it one incident, in the alert's id
    at: float  # when it happened (UTC seconds)
    lines: tuple[str, ...]  # what happened, one fact a line

    @property
    def id(self) -> str:
        return f"{PREFIX}{self.incident.replace('_', '-')}-{self.channel}-{self.key}"

    def notice(self, settings: AlertSettings) -> Notice:
        """The alert as a canonical notice: the same incident gives the same content."""
        headline = _HEADLINES[self.incident]
        when = datetime.fromtimestamp(self.at, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
        title = f"[syndicate] {headline}: {self.channel}"
        body = "".join(f"<p>{html.escape(line)}</p>" for line in (f"{when} {title}", *self.lines))
        return Notice.model_validate(
            {
                "id": self.id,
                "version": 1,
                "category": "work_news",
                "notice_type": "news",
                "title": title[:300],
                "body_html": body,
                "summary": title[:500],
                "region_code": settings.region_code,
                "publisher": {"name": settings.publisher},
                "publish_at": datetime.fromtimestamp(self.at, UTC),
            }
        )


def delivery_ended(
    incident: Incident,
    delivery_id: int,
    attempts: int,
    channel: str,
    notice: str,
    message: str,
    at: float,
) -> Alert:
    """A delivery ended failed or dead on its ``attempts``-th attempt."""
    lines = (f"notice {notice} → channel {channel}", f"attempt {attempts}: {message}")
    return Alert(incident, channel, f"{delivery_id}-{attempts}", at, lines)


def circuit_opened(channel: str, opened_at: float, failures: int, message: str) -> Alert:
    lines = (f"{failures} failures in a row; no delivery starts until a probe succeeds", message)
    return Alert("circuit_open", channel, _millis(opened_at), opened_at, lines)


def circuit_closed(channel: str, opened_at: float, at: float) -> Alert:
    opened = datetime.fromtimestamp(opened_at, LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S")
    lines = (f"open since {opened}, for {at - opened_at:.0f} s; deliveries start again",)
    return Alert("circuit_closed", channel, _millis(opened_at), at, lines)


def publication_checked(check: FetchCheck) -> Alert | None:
    """A fetch-back check that found a published notice changed or gone; None if it is fine.

    The same finding on the same delivery is one incident however often it is checked
    again; a different finding is another.
    """
    if not check.result.alert:
        return None
    incident: Incident = (
        "fetch_back_mismatch" if check.result is CheckResult.mismatch else "fetch_back_missing"
    )
    finding = hashlib.sha256(check.detail.encode("utf-8")).hexdigest()[:12]
    lines = (
        f"notice {check.notice_id}.v{check.version} → channel {check.channel}",
        *([f"published at {check.url}"] if check.url else []),
        check.detail,
    )
    return Alert(incident, check.channel, f"{check.delivery_id}-{finding}", check.at, lines)


def _millis(at: float) -> str:
    return str(round(at * 1000))


class Alerter:
    """Enqueues alerts in the ledger (a blocking call: the worker runs it in its writer thread)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.settings = config.alerts
        self.store = store
        self.enabled = {n for n, c in config.channels.items() if c.settings.enabled}

    def wants(self, incident: Incident) -> bool:
        return self.settings is not None and incident in self.settings.incidents

    def send(self, alert: Alert) -> bool:
        """Enqueue ``alert`` unless the ledger has it already; True if this call added it."""
        settings = self.settings
        if settings is None or alert.incident not in settings.incidents:
            return False
        # An alert about a channel is not sent through that channel: it may be down.
        channels = [c for c in settings.channels if c != alert.channel and c in self.enabled]
        if not channels:
            log.warning("alert %s: no other alert channel to carry it", alert.id)
            return False
        try:
            notice = alert.notice(settings)
        except (
            ValueError
        ) as exc:  # the configured publisher or an odd channel name: said, not raised
            log.error("cannot write alert %s: %s", alert.id, exc)
            return False
        try:
            now = time.time()
            record = NoticeRecord(
                id=notice.id,
                version=notice.version,
                category=notice.category.value,
                notice_type=notice.notice_type.value,
                region_code=notice.region_code,
                title=notice.title,
                digest=notice.digest(),
                content=notice.canonical_json(),
                accepted_at=now,
                publish_at=notice.publish_at.timestamp(),
                kind=KIND,
            )
            created = self.store.accept(record, channels, now).created
        except NoticeConflict:
            return False  # another worker told this incident first, in its own words
        except (NoticeError, StoreError) as exc:
            if isinstance(exc, StoreError) and self._there(alert.id):
                return False  # another worker's enqueue of the same alert won the race
            log.error("cannot enqueue alert %s: %s", alert.id, exc)
            return False
        if created:
            log.info("alert %s sent to %s", alert.id, ", ".join(channels))
        return created

    def _there(self, alert_id: str) -> bool:
        try:
            return self.store.notice(alert_id, 1) is not None
        except StoreError:
            return False

    def catch_up(self, now: float) -> int:
        """Enqueue the alerts of recent incidents the ledger lacks; how many were added.

        Blocking, like ``send``. A ledger that cannot be read now is left for the next look.
        """
        if self.settings is None:
            return 0
        told = 0
        try:
            for alert in self._recent_incidents(now):
                if self.wants(alert.incident) and not self._there(alert.id):
                    told += self.send(alert)
        except StoreError as exc:
            log.error("cannot look for incidents left untold: %s", exc)
        if told:
            log.warning("told %d incident(s) late that a stopped worker had not told", told)
        return told

    def _recent_incidents(self, now: float) -> Iterator[Alert]:
        since = now - CATCH_UP_WINDOW
        for state in (DeliveryState.failed, DeliveryState.dead):
            incident: Incident = "failed" if state is DeliveryState.failed else "dead"
            if not self.wants(incident):
                continue
            before: int | None = None
            while True:
                page = self.store.delivery_page(
                    DeliveryFilter(state=state, since=since), before, 200
                )
                for d in page:
                    if d.notice_id.startswith(PREFIX):
                        continue  # an alert's own failure raises none
                    yield delivery_ended(
                        incident,
                        d.id,
                        d.attempts,
                        d.channel,
                        f"{d.notice_id}.v{d.notice_version}",
                        f"{d.last_error or ''} {_LATE}".strip(),
                        d.updated_at,
                    )
                if len(page) < 200:
                    break
                before = page[-1].id
        if self.wants("circuit_open"):
            for row in self.store.circuits().values():
                opened_at = row.opened_at if row.opened_at is not None else row.updated_at
                if row.state != "closed" and opened_at >= since:
                    yield circuit_opened(row.channel, opened_at, row.failures, _LATE)
