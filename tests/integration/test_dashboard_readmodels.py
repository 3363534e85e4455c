"""The read models the dashboard renders, asked of the engine directly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syndicate import Syndicator
from syndicate.demo.http_sink import HttpSink
from syndicate.errors import QueryError
from syndicate.store.base import DeliveryState, NoticeFilter
from tests.dashboard_site import DEAD, seed

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(sink: HttpSink, tmp_path: Path) -> Iterator[Syndicator]:
    with seed(sink, tmp_path) as s:
        yield s


def counted(engine: Syndicator) -> dict[tuple[str, DeliveryState], int]:
    """Every delivery counted one by one: what counts() must agree with."""
    found: dict[tuple[str, DeliveryState], int] = {}
    for d in engine.store.deliveries():
        found[(d.channel, d.state)] = found.get((d.channel, d.state), 0) + 1
    return found


def test_failures_are_grouped_by_channel_state_and_error_class(engine: Syndicator) -> None:
    (group,) = engine.failures().groups
    assert (group.channel, group.state, group.error_class) == (
        "city-portal",
        DeliveryState.dead,
        "TransientDeliveryError",
    )
    assert group.deliveries == 1
    assert group.latest_error is not None
    assert "503" in group.latest_error


def test_replay_counts_first_and_narrows_by_error_class(engine: Syndicator) -> None:
    assert engine.replay(channel="city-portal", dry_run=True) == 1
    assert engine.replay(error_class="PermanentDeliveryError", dry_run=True) == 0
    assert engine.replay(notice=f"{DEAD}.v1", dry_run=True) == 0
    assert (
        engine.replay(notice=f"{DEAD}.v2", error_class="TransientDeliveryError", dry_run=True) == 1
    )
    assert engine.store.counts()[("city-portal", DeliveryState.dead)] == 1
    with pytest.raises(QueryError, match="only failed or dead"):
        engine.replay(states=(DeliveryState.delivered,), dry_run=True)
    with pytest.raises(QueryError, match="unknown channel"):
        engine.replay(channel="nowhere", dry_run=True)
    assert engine.replay(channel="city-portal", by="duty-officer") == 1
    assert engine.drain(timeout=20)
    assert engine.failures().groups == ()
    (op,) = engine.store.operations()
    assert (op.actor, op.action) == ("duty-officer", "replay")
    assert '"channel": "city-portal"' in op.subject


def test_counts_agree_with_the_deliveries_one_by_one(engine: Syndicator) -> None:
    assert engine.store.counts() == counted(engine)
    engine.replay(channel="city-portal")
    assert engine.store.counts() == counted(engine)
    assert engine.drain(timeout=20)
    assert engine.store.counts() == counted(engine)


def test_overview_has_today_and_the_open_incidents(engine: Syndicator) -> None:
    view = engine.overview()
    assert view.today.notices == 7
    assert view.today.delivered == sum(
        n for (_, st), n in counted(engine).items() if st is DeliveryState.delivered
    )
    assert view.today.failed_attempts == 2
    assert [(i.channel, i.kind, i.count) for i in view.incidents] == [("city-portal", "dead", 1)]
    engine.pause("land-market", by="duty-officer")
    kinds = {(i.channel, i.kind) for i in engine.overview().incidents}
    assert ("land-market", "paused") in kinds
    switches = {c.name: c for c in engine.channel_switches()}
    assert list(switches) == ["trading-website", "city-portal", "land-market"]
    assert switches["land-market"].paused
    assert switches["land-market"].paused_by == "duty-officer"
    assert not switches["city-portal"].paused
    assert switches["city-portal"].circuit.state == "closed"
    city = engine.overview().health.get("city-portal")
    assert city is not None
    assert city.last_error is not None
    assert city.last_error.error_class == "TransientDeliveryError"


def test_the_matrix_pages_by_cursor_with_a_cell_per_routed_channel(engine: Syndicator) -> None:
    seen, cursor = [], None
    while True:
        page = engine.matrix(NoticeFilter(), cursor, 3)
        assert page.channels == ("trading-website", "city-portal", "land-market")
        seen += [(line.notice.id, line.notice.version) for line in page.lines]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    (dead,) = engine.matrix(NoticeFilter(notice_id=DEAD, notice_version=2)).lines
    assert dead.cells["city-portal"].state is DeliveryState.dead
    assert "land-market" not in dead.cells
