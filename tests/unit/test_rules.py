"""Statutory rules at enqueue: the shipped table, refusals that cite the rule, warnings kept."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syndicate import Syndicator
from syndicate.config import parse_config
from syndicate.errors import ConfigError, NoticeError
from syndicate.notice import Notice
from syndicate.registry import AdapterRegistry
from syndicate.rules import EVENTS, Mode, RuleSetting, check, findings, rule_table
from syndicate.workdays import WorkdayCalendar

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "notices"
CAL = WorkdayCalendar()
ENFORCE_ALL = {
    r.id: RuleSetting(Mode.enforce, "land-market" if r.requires_channel else None)
    for r in rule_table().rules
}


def example(name: str, **changes: Any) -> Notice:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text("utf-8"))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return Notice.parse(data)


def refusal(notice: Notice, channels: tuple[str, ...] = ("land-market",)) -> str:
    with pytest.raises(NoticeError) as caught:
        check(notice, channels, ENFORCE_ALL, CAL)
    return str(caught.value)


# --- the table ------------------------------------------------------------------------


def test_the_table_holds_the_rules_the_law_sets() -> None:
    table = rule_table()
    assert table.format == 1
    assert table.edition
    ids = {r.id for r in table.rules}
    assert {
        "zb-tender-period",
        "gp-tender-period",
        "zb-doc-sale-window",
        "zb-change-before-deadline",
        "zb-change-before-prequalification",
        "zb-candidates-publicity",
        "zb-candidates-published-within",
        "gp-single-source-publicity",
        "gp-result-published-within",
        "land-notice-before-trading",
        "land-listing-period",
        "land-notice-on-land-market",
        "sp-disclosure-period",
    } <= ids
    for rule in table.rules:
        assert rule.citation.startswith("《"), rule.id
        # A verified rule says where it was checked; an unverified one says so in its messages.
        assert (rule.checked_in is not None) == rule.verified, rule.id
        if not rule.requires_channel:
            assert rule.unit in {"日", "工作日"}
            assert rule.start in EVENTS
            assert rule.end in EVENTS
    units = {r.id: r.unit for r in table.rules}
    assert units["gp-single-source-publicity"] == "工作日"
    assert units["sp-disclosure-period"] == "工作日"
    assert units["zb-tender-period"] == "日"


def test_readme_lists_every_rule_and_marks_the_unverified() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    section = readme.split("## Lifecycle and compliance", 1)[1].split("\n## ", 1)[0]
    for rule in rule_table().rules:
        row = next((line for line in section.splitlines() if f"`{rule.id}`" in line), None)
        assert row is not None, f"README does not list rule {rule.id}"
        assert ("unverified" in row) == (not rule.verified), rule.id


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_example_keeps_every_rule(name: str) -> None:
    notice = example(name)
    assert findings(notice, ["land-market"], ENFORCE_ALL, CAL) == []


# --- calendar days ----------------------------------------------------------------


def test_a_short_tender_period_is_refused_with_the_citation_and_the_dates() -> None:
    notice = example(
        "construction-tender.json", deadlines__submission_deadline="2026-10-30T09:30:00+08:00"
    )
    text = refusal(notice)
    assert "deadlines.submission_deadline: 《中华人民共和国招标投标法》第二十四条" in text
    assert "[zb-tender-period]" in text
    assert "2026-10-12" in text
    assert "2026-10-30" in text
    assert "is 18 日; at least 20 日 required; earliest allowed 2026-11-01" in text


def test_a_short_doc_sale_window_is_refused() -> None:
    notice = example(
        "construction-tender.json", deadlines__doc_sale_end="2026-10-15T17:30:00+08:00"
    )
    text = refusal(notice)
    assert "《中华人民共和国招标投标法实施条例》第十六条" in text
    assert "is 3 日; at least 5 日 required" in text


def test_a_late_correction_must_move_the_deadline() -> None:
    # The correction is published 10-16; the deadline it keeps is 10-30: 14 days.
    notice = example(
        "construction-tender-correction.json",
        deadlines__submission_deadline="2026-10-30T09:30:00+08:00",
        deadlines__bid_opening_at="2026-10-30T09:30:00+08:00",
    )
    text = refusal(notice)
    assert "[zb-change-before-deadline]" in text
    assert "is 14 日; at least 15 日 required; earliest allowed 2026-10-31" in text


def test_candidates_published_late_after_the_evaluation_report() -> None:
    notice = example(
        "construction-candidates.json", deadlines__evaluation_report_at="2026-11-02T10:00:00+08:00"
    )
    text = refusal(notice)
    assert "第五十四条第一款" in text
    assert "is 4 日; at most 3 日 allowed; latest allowed 2026-11-05" in text


def test_an_unverified_citation_says_so() -> None:
    notice = example("land-transfer.json", publish_at="2026-10-20T09:00:00+08:00")
    text = refusal(notice)
    assert "[land-notice-before-trading]" in text
    assert "unverified" in text


# --- working days ----------------------------------------------------------------


def test_single_source_publicity_over_national_day_counts_working_days() -> None:
    # 2026-09-29 to 10-09: 09-30, 10-08, 10-09 are working days; 10-01..10-07 are not.
    notice = example(
        "procurement-single-source.json",
        publish_at="2026-09-29T09:00:00+08:00",
        valid_until="2026-10-09T17:30:00+08:00",
    )
    text = refusal(notice)
    assert "《中华人民共和国政府采购法实施条例》第三十八条" in text
    # The earliest end counts Saturday 10-10, a make-up working day.
    assert "is 3 工作日; at least 5 工作日 required; earliest allowed 2026-10-12" in text
    ok = example(
        "procurement-single-source.json",
        publish_at="2026-09-29T09:00:00+08:00",
        valid_until="2026-10-12T17:30:00+08:00",
    )
    assert check(ok, [], ENFORCE_ALL, CAL) == []


def test_a_result_must_follow_the_award_within_two_working_days() -> None:
    decided = {"deadlines__award_decided_at": "2026-09-30T16:00:00+08:00"}
    on_time = example("procurement-result.json", publish_at="2026-10-08T09:00:00+08:00", **decided)
    assert check(on_time, [], ENFORCE_ALL, CAL) == []
    late = example("procurement-result.json", publish_at="2026-10-12T09:00:00+08:00", **decided)
    text = refusal(late)
    assert "第四十三条第二款" in text
    assert "is more than 2 工作日; at most 2 工作日 allowed; latest allowed 2026-10-09" in text


def test_a_year_no_calendar_covers_is_refused_naming_it() -> None:
    notice = example(
        "procurement-single-source.json",
        publish_at="2031-03-03T09:00:00+08:00",
        valid_until="2031-03-12T17:30:00+08:00",
    )
    text = refusal(notice)
    assert "no working-day calendar covers 2031" in text
    assert "calendar.overrides" in text


def test_the_override_file_lets_the_same_notice_through() -> None:
    from syndicate.workdays import parse_overrides

    cal = parse_overrides("2031:\n  holidays: []\n", "holidays.yaml")
    notice = example(
        "procurement-single-source.json",
        publish_at="2031-03-03T09:00:00+08:00",
        valid_until="2031-03-12T17:30:00+08:00",
    )
    assert check(notice, [], ENFORCE_ALL, cal) == []


def test_a_period_decided_within_a_known_year_needs_no_later_calendar() -> None:
    # 20 working days are reached in 2026: the end in 2031 is certain without 2031's schedule.
    notice = example(
        "state-property-transfer.json",
        valid_until="2031-01-10T17:00:00+08:00",
        state_property__disclosure_end="2031-01-10T17:00:00+08:00",
    )
    assert check(notice, [], ENFORCE_ALL, CAL) == []


# --- order, missing dates, modes -----------------------------------------------------


def test_dates_in_the_wrong_order_are_refused_whatever_the_mode() -> None:
    notice = example(
        "procurement-result.json", deadlines__award_decided_at="2026-11-07T09:00:00+08:00"
    )
    warn_only = {"gp-result-published-within": RuleSetting(Mode.warn)}
    with pytest.raises(NoticeError) as caught:
        check(notice, [], warn_only, CAL)
    assert "dates in the wrong order: publish_at" in str(caught.value)
    assert "is before deadlines.award_decided_at" in str(caught.value)


def test_a_missing_date_is_named() -> None:
    data = json.loads((EXAMPLES / "construction-candidates.json").read_text("utf-8"))
    del data["deadlines"]
    text = refusal(Notice.parse(data))
    assert (
        "cannot be checked: the notice has no deadlines.evaluation_report_at (收到评标报告)" in text
    )


def test_warn_mode_accepts_and_returns_the_warning_off_checks_nothing() -> None:
    notice = example(
        "construction-tender.json", deadlines__submission_deadline="2026-10-30T09:30:00+08:00"
    )
    warnings = check(notice, [], {}, CAL)  # nothing named: warn
    assert [rule for rule, _ in warnings] == ["zb-tender-period"]
    assert "at least 20 日 required" in warnings[0][1]
    assert check(notice, [], {"zb-tender-period": RuleSetting(Mode.off)}, CAL) == []


# --- required channels -------------------------------------------------------------


def test_a_land_notice_that_would_miss_the_land_market_channel_is_refused() -> None:
    notice = example("land-transfer.json")
    text = refusal(notice, channels=("trading-website",))
    assert "channels: 《招标拍卖挂牌出让国有建设用地使用权规定》" in text
    assert "[land-notice-on-land-market]" in text
    assert "land_mineral/transfer notices must go to channel 'land-market'" in text
    assert check(notice, ["trading-website", "land-market"], ENFORCE_ALL, CAL) == []


# --- channels.yaml and the ledger ----------------------------------------------------

CONFIG = """\
version: 1
store: {{url: ledger.db}}
channels:
  trading-website:
    adapter: cms_http
    url: http://127.0.0.1:9/notices
  land-market:
    adapter: land_market
    url: http://127.0.0.1:9/report
routes:
  - channels: [trading-website]
{extra}
"""


def config_problems(extra: str, registry: AdapterRegistry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(extra=extra), "channels.yaml", registry, env={})
    return [str(p) for p in caught.value.problems]


def test_the_rules_section_is_checked_with_file_and_line(registry: AdapterRegistry) -> None:
    extra = """\
rules:
  zb-tender-period: enforce
  zb-tender-priod: enforce
  gp-tender-period: sometimes
  land-notice-on-land-market: enforce
  sp-disclosure-period: {mode: warn, channel: land-market}
  land-listing-period: {mode: enforce, color: red}
"""
    found = config_problems(extra, registry)
    assert found == [
        "channels.yaml:14: rules.zb-tender-priod: unknown rule 'zb-tender-priod' "
        "(see the rule table: README, Lifecycle and compliance)",
        "channels.yaml:15: rules.gp-tender-period: must be enforce, warn, off",
        "channels.yaml:16: rules.land-notice-on-land-market: names no channel: "
        "give {mode: ..., channel: NAME}",
        "channels.yaml:17: rules.sp-disclosure-period.channel: "
        "only a required-channel rule names a channel",
        "channels.yaml:18: rules.land-listing-period.color: unknown key (mode, channel)",
    ]
    found = config_problems(
        "rules:\n  land-notice-on-land-market: {mode: enforce, channel: land-mart}\n", registry
    )
    assert found == [
        "channels.yaml:13: rules.land-notice-on-land-market.channel: unknown channel 'land-mart'"
    ]


@pytest.fixture
def syndicator(
    write_config: Callable[[str], Path], registry: AdapterRegistry
) -> Iterator[Callable[[str], Syndicator]]:
    made: list[Syndicator] = []

    def make(extra: str) -> Syndicator:
        s = Syndicator.from_config(write_config(CONFIG.format(extra=extra)), registry=registry)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


SHORT = {"deadlines__submission_deadline": "2026-10-30T09:30:00+08:00"}


def test_enforce_refuses_and_stores_nothing(syndicator: Callable[[str], Syndicator]) -> None:
    s = syndicator("rules: {zb-tender-period: enforce}")
    with pytest.raises(NoticeError, match="第二十四条"):
        s.enqueue(example("construction-tender.json", **SHORT))
    assert s.store.notice("HYJS-2026-0318", 1) is None
    assert s.store.deliveries() == []


def test_warn_accepts_and_the_ledger_keeps_the_warning(
    syndicator: Callable[[str], Syndicator],
) -> None:
    s = syndicator("rules: {zb-tender-period: warn}")
    accepted = s.enqueue(example("construction-tender.json", **SHORT))
    assert accepted.channels == ["trading-website"]
    assert len(accepted.warnings) == 1
    assert "at least 20 日 required" in accepted.warnings[0]
    record = s.store.notice("HYJS-2026-0318", 1)
    assert record is not None
    assert [rule for rule, _ in record.warnings] == ["zb-tender-period"]
    # The same notice again is already accepted: no second warning.
    again = s.enqueue(example("construction-tender.json", **SHORT))
    assert not again.created
    assert again.warnings == []
    record = s.store.notice("HYJS-2026-0318", 1)
    assert record is not None
    assert len(record.warnings) == 1
    # The notice's detail (CLI, API, dashboard) shows the warning with the version.
    detail = s.notice_detail("HYJS-2026-0318")
    assert detail is not None
    assert detail.as_dict()["versions"][0]["warnings"] == accepted.warnings


def test_a_required_channel_from_channels_yaml(syndicator: Callable[[str], Syndicator]) -> None:
    s = syndicator("rules: {land-notice-on-land-market: {mode: enforce, channel: land-market}}")
    with pytest.raises(NoticeError, match="must go to channel 'land-market'"):
        s.enqueue(example("land-transfer.json"))
    accepted = s.enqueue(example("land-transfer.json", channels=["trading-website", "land-market"]))
    assert accepted.channels == ["trading-website", "land-market"]
