"""Schemathesis against the live OpenAPI: no 5xx, every answer as the schema says it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from syndicate import Syndicator
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.conftest import closed_port

pytestmark = pytest.mark.integration

CONFIG = f"""
store: {{url: ledger.db}}
api: {{max_batch: 5, max_body: 200000}}
channels:
  trading-website: {{adapter: cms_http, url: "http://127.0.0.1:{closed_port()}/notices"}}
  led-screens:
    adapter: led_feed
    screens: [{{name: hall, columns: 64, lines: 4, path: {{rss: led/hall.xml}}, link: "https://ggzy.example/"}}]
routes:
  - channels: [trading-website, led-screens]
"""


@pytest.fixture
def served(write_config: Callable[[str], Path]) -> Iterator[tuple[ApiServer, str]]:
    with Syndicator.from_config(write_config(CONFIG)) as engine:
        token = engine.tokens.create("schemathesis", [Scope.admin]).secret
        with ApiServer(engine) as server:
            yield server, token


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


def test_every_answer_matches_the_openapi(served: tuple[ApiServer, str]) -> None:
    server, token = served
    schema = headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        answers_as_documented()
