"""The Grafana dashboard and the alert rules in examples/ ask only for metrics /metrics serves."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.store.base import DeliveryState
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.integration.test_engine import http_config

pytestmark = pytest.mark.integration

MONITORING = Path(__file__).resolve().parents[2] / "examples" / "monitoring"
NAME = re.compile(r"\bsyndicate_[a-z_]+")


def expressions() -> dict[str, str]:
    rules = yaml.safe_load((MONITORING / "prometheus-alerts.yml").read_text("utf-8"))
    found = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text("utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            found[f"{panel['title']} {target['refId']}"] = target["expr"]
    return found


def test_every_metric_the_examples_use_is_served(
    sink: HttpSink, write_config: Callable[[str], Path], make_notice: Callable[..., dict[str, Any]]
) -> None:
    found = expressions()
    assert {
        "SyndicateCircuitOpen",
        "SyndicateOldestPendingTooOld",
        "SyndicateDeadDeliveries",
    } <= set(found)
    with Syndicator.from_config(write_config(http_config(sink.url))) as engine:
        engine.enqueue(make_notice())
        token = engine.tokens.create("prometheus", [Scope.read]).secret
        with ApiServer(engine, worker=True) as api:
            deadline = time.monotonic() + 20
            while engine.store.counts().get(("trading-website", DeliveryState.delivered)) != 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            text = httpx.get(
                f"{api.url}/metrics", headers={"Authorization": f"Bearer {token}"}
            ).text
    served = set(NAME.findall(text))
    for where, expr in found.items():
        for name in NAME.findall(expr):
            assert name in served, f"{where}: {name} is not served by /metrics"
