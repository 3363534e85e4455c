"""What peers said, as the API and the dashboard show it: secrets masked, controls escaped.

A real CMS peer answers with a bidi override, a terminal escape and the
channel's own bearer token; a ledger written by a worker that did not mask
(an older version) holds the token in clear. Neither reaches a reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink, Reply
from syndicate.store.base import AttemptRecord, DeliveryState, Next, Outcome
from syndicate.tokens import Scope
from tests.api_server import ApiServer
from tests.dashboard_site import sign_in, token
from tests.integration.test_engine import http_config

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-token"  # the channel's bearer token in http_config
HOSTILE = f"refused \u202eevil\u202c \x1b[2J you sent Authorization: Bearer {SECRET}".encode()


@pytest.fixture
def engine(
    sink: HttpSink,
    write_config: Callable[[str], Path],
    make_notice: Callable[..., dict[str, Any]],
) -> Iterator[Syndicator]:
    sink.script("/api/notices", [Reply(400, body=HOSTILE)])
    with Syndicator.from_config(write_config(http_config(sink.url))) as s:
        s.enqueue(make_notice())
        assert s.drain(timeout=20)
        # A worker that did not mask wrote the echo as it came: the faces mask it all the same.
        s.enqueue(make_notice(id="HYZB-2026-0002"))
        (claim,) = s.store.claim("old-worker", time.time(), 30, 1)
        echo = f"Bearer-less echo: token is {SECRET}"
        now = time.time()
        record = AttemptRecord(now, now, Outcome.permanent, "PermanentDeliveryError", echo)
        s.store.record(claim, "old-worker", record, Next(DeliveryState.failed))
        yield s


def test_the_api_masks_and_escapes_what_peers_said(engine: Syndicator) -> None:
    headers = {"Authorization": f"Bearer {token(engine, Scope.read)}"}
    with ApiServer(engine) as api:
        for path in (
            "/v1/attempts",
            "/v1/deliveries",
            "/v1/notices/HYZB-2026-0002",
            "/v1/channels",
        ):
            r = httpx.get(f"{api.url}{path}", headers=headers)
            assert r.status_code == 200, r.text
            assert SECRET not in r.text, path
            assert "\u202e" not in r.text, path
            assert "\x1b" not in r.text, path
        attempts = httpx.get(f"{api.url}/v1/attempts", headers=headers).json()["items"]
    messages = sorted(a["error_message"] for a in attempts)
    assert messages[0] == "Bearer-less echo: token is ***"
    assert "\u202eevil" in messages[1]  # escaped on the wire, the same text once parsed
    assert "Bearer ***" in messages[1]


def test_the_dashboard_masks_and_escapes_what_peers_said(engine: Syndicator) -> None:
    with ApiServer(engine) as site, httpx.Client(base_url=site.url) as client:
        assert sign_in(client, token(engine, Scope.read)).status_code == 303
        for path in ("/attempts", "/notices/HYZB-2026-0002", "/failures", "/overview/live"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert SECRET not in page.text, path
            assert "\u202e" not in page.text, path
            assert "\x1b" not in page.text, path
        assert "\\u202eevil" in client.get("/attempts").text
        exported = client.get("/attempts.csv").text
    assert SECRET not in exported
    assert "token is ***" in exported
