"""Operator alerts end to end: a CMS peer that misbehaves, an aiosmtpd inbox for the operators.

Each incident is one mail: a delivery that ends failed, a circuit that opens,
the same circuit closing again. Alerts are deliveries of their own (in the
attempt log) but no notice the center published (not in the lists, the
matrix or the yearly figures).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.alerts import Alerter, delivery_ended
from syndicate.config import load_config, parse_config
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.errors import ConfigError, NoticeError
from syndicate.registry import AdapterRegistry
from syndicate.store.base import AttemptFilter, DeliveryState
from tests.peers.smtp import SmtpPeer

pytestmark = pytest.mark.integration


def alerting_config(url: str, smtp_port: int, alerts: str | None = None) -> str:
    alerts = alerts or "{channels: [ops-mail], region_code: '441600', publisher: 交易中心}"
    return f"""
version: 1
store: {{url: ledger.db}}
worker: {{lease: 30s, poll_interval: 20ms, grace: 2s}}
defaults:
  timeout: 5s
  retry: {{max_attempts: 5, initial_delay: 50ms, max_delay: 100ms, jitter: 0s}}
channels:
  trading-website:
    adapter: cms_http
    url: {url}/api/notices
    allow_insecure_transport: true
    circuit_breaker: {{failures: 2, cool_down: 200ms}}
  ops-mail:
    adapter: email_inbox
    host: 127.0.0.1
    port: {smtp_port}
    security: none
    from_address: syndicate@ggzy.heyuan.gov.cn
    to: [ops@ggzy.heyuan.gov.cn]
    socket_timeout: 5s
routes:
  - match: {{category: [construction]}}
    channels: [trading-website]
alerts: {alerts}
"""


@pytest.fixture
def engine(
    sink: HttpSink, smtp_server: SmtpPeer, write_config: Callable[[str], Path]
) -> Iterator[Syndicator]:
    path = write_config(alerting_config(sink.url, smtp_server.port))
    with Syndicator.from_config(path) as s:
        yield s


def settle(engine: Syndicator) -> None:
    """Deliver everything, then the alerts the last results raised."""
    for _ in range(3):
        assert engine.drain(timeout=20)


def subjects(smtp: SmtpPeer) -> list[str]:
    return [str(r.message["Subject"]) for r in smtp.received]


def test_a_failed_delivery_is_one_alert_mail(
    engine: Syndicator, sink: HttpSink, smtp_server: SmtpPeer, make_notice: Callable[..., Any]
) -> None:
    sink.script("/api/notices", [Reply(422)])  # refused for good: failed at once
    engine.enqueue(make_notice())
    settle(engine)
    (mail,) = smtp_server.received
    assert "投递失败" in str(mail.message["Subject"])
    text = mail.message.get_body(("plain",))
    assert text is not None
    assert "HYZB-2026-0001.v1 → channel trading-website" in text.get_content()
    # Another worker that saw the same result adds nothing: the ledger has the alert.
    (failed,) = engine.store.deliveries(state=DeliveryState.failed)
    again = delivery_ended(
        "failed", failed.id, 1, "trading-website", "HYZB-2026-0001.v1", "x", time.time()
    )
    assert Alerter(engine.config, engine.store).send(again) is False
    settle(engine)
    assert len(smtp_server.received) == 1
    # A delivery of its own, in the attempt log; no notice the center published.
    attempts = list(engine.store.attempts(AttemptFilter(channel="ops-mail")))
    assert [a.outcome.value for a in attempts] == ["delivered"]
    assert [n.id for n in engine.notices().items] == ["HYZB-2026-0001"]
    assert "ops-mail" not in {ch for ch, _ in engine.store.counts()}
    year = time.gmtime().tm_year
    assert all(ch != "ops-mail" for _, ch in engine.store.year_counts(year).delivered)


def test_a_circuit_that_opens_and_recovers_is_two_alert_mails(
    engine: Syndicator, sink: HttpSink, smtp_server: SmtpPeer, make_notice: Callable[..., Any]
) -> None:
    # Two failures open the circuit; a failed probe reopens the same outage; then it delivers.
    sink.script("/api/notices", [Reply(503), Reply(503), Reply(503)])
    engine.enqueue(make_notice())
    settle(engine)
    assert engine.store.counts()[("trading-website", DeliveryState.delivered)] == 1
    got = subjects(smtp_server)
    assert len(got) == 2, got
    assert sum("通道熔断" in s for s in got) == 1
    assert sum("通道恢复" in s for s in got) == 1


def test_an_alert_about_the_alert_channel_is_not_sent_through_it(
    engine: Syndicator, smtp_server: SmtpPeer
) -> None:
    alert = delivery_ended("dead", 7, 5, "ops-mail", "HYZB-2026-0009.v1", "no answer", time.time())
    assert Alerter(engine.config, engine.store).send(alert) is False
    settle(engine)
    assert smtp_server.received == []


def test_an_upstream_notice_may_not_take_an_alert_id(
    engine: Syndicator, make_notice: Callable[..., Any]
) -> None:
    with pytest.raises(NoticeError, match="operator alerts"):
        engine.enqueue(make_notice(id="ALERT-failed-x-1-1"))


@pytest.mark.parametrize(
    ("alerts", "field", "message"),
    [
        ("{channels: [ops-pager], region_code: '441600'}", "alerts.channels.0", "unknown channel"),
        ("{channels: [], region_code: '441600'}", "alerts.channels", "at least 1"),
        ("{channels: [ops-mail]}", "alerts.region_code", "required"),
        (
            "{channels: [ops-mail], region_code: '441600', incidents: [late]}",
            "alerts.incidents.0",
            "",
        ),
    ],
)
def test_a_wrong_alerts_section_is_named_with_its_line(
    alerts: str, field: str, message: str, tmp_path: Path, registry: AdapterRegistry
) -> None:
    path = tmp_path / "channels.yaml"
    path.write_text(alerting_config("http://127.0.0.1:9", 25, alerts), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, registry)
    (problem,) = caught.value.problems
    assert problem.path == field
    assert message.lower() in problem.message.lower()
    assert problem.line == path.read_text().splitlines().index(f"alerts: {alerts}") + 1


def test_the_alerts_example_is_a_valid_configuration(registry: AdapterRegistry) -> None:
    example = Path(__file__).parents[2] / "examples" / "alerts" / "channels.yaml"
    env = {"CMS_TOKEN": "t", "OPS_SMTP_PASSWORD": "p", "ONCALL_TOKEN": "o"}
    config = parse_config(example.read_text(encoding="utf-8"), str(example), registry, env=env)
    assert config.alerts is not None
    assert config.alerts.channels == ["ops-mail", "oncall-webhook"]


def test_an_incident_a_stopped_worker_left_untold_is_told_late(
    sink: HttpSink,
    smtp_server: SmtpPeer,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., Any],
) -> None:
    """The delivery ended failed, and the worker stopped before it enqueued the alert (here:
    the ledger's first worker ran without an ``alerts:`` section). The next worker tells it,
    once, saying it is late."""
    sink.script("/api/notices", [Reply(422)])
    config = alerting_config(sink.url, smtp_server.port)
    silent = config[: config.index("alerts:")]
    with Syndicator.from_config(write_config(silent)) as first:
        first.enqueue(make_notice())
        assert first.drain(timeout=20)
        (failed,) = first.store.deliveries(state=DeliveryState.failed)
    assert smtp_server.received == []
    with Syndicator.from_config(write_config(config)) as second:
        settle(second)
        settle(second)  # a second look finds the alert there: nothing more
    (mail,) = smtp_server.received
    assert "投递失败" in str(mail.message["Subject"])
    text = mail.message.get_body(("plain",))
    assert text is not None
    assert "HYZB-2026-0001.v1 → channel trading-website" in text.get_content()
    assert "told late" in text.get_content()
    assert failed.state is DeliveryState.failed
