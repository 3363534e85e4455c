"""The canonical notice: the examples, the digest, the rules it enforces and its JSON Schema."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndicate.errors import NoticeError
from syndicate.notice import Category, Notice, NoticeType, notice_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "notices"
EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))
HEYUAN = {"441600", "441602", "441621", "441622", "441623", "441624", "441625"}


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text("utf-8"))
    return data


def refused(data: Any) -> NoticeError:
    with pytest.raises(NoticeError) as info:
        Notice.parse(data)
    assert info.value.problems
    return info.value


def paths(error: NoticeError) -> set[str]:
    return {p.path for p in error.problems}


# --- the examples ------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_parses(name: str) -> None:
    notice = Notice.parse((EXAMPLES / name).read_bytes(), source=name)
    assert notice.region_code in HEYUAN
    assert notice.publisher.name == "河源市公共资源交易中心"
    assert notice.publish_at.utcoffset() == timedelta(hours=8)
    assert notice.publish_at.year == 2026
    # An LED line is short; the summary is what it shows.
    assert notice.summary is not None
    assert 0 < len(notice.summary) <= 40


def test_examples_cover_every_category_and_the_main_types() -> None:
    kinds = {
        (n.category, n.notice_type, n.nature.value)
        for n in (Notice.parse((EXAMPLES / f).read_bytes()) for f in EXAMPLE_FILES)
    }
    wanted = {
        (Category.construction, NoticeType.tender, "original"),
        (Category.construction, NoticeType.tender, "correction"),
        (Category.construction, NoticeType.candidates, "original"),
        (Category.procurement, NoticeType.tender, "original"),
        (Category.procurement, NoticeType.result, "original"),
        (Category.procurement, NoticeType.single_source, "original"),
        (Category.land_mineral, NoticeType.transfer, "original"),
        (Category.land_mineral, NoticeType.deal, "original"),
        (Category.state_property, NoticeType.transfer, "original"),
        (Category.work_news, NoticeType.news, "original"),
    }
    assert wanted <= kinds


def test_correction_is_version_two_of_the_tender() -> None:
    tender = Notice.parse(example("construction-tender.json"))
    correction = Notice.parse(example("construction-tender-correction.json"))
    assert correction.id == tender.id
    assert (tender.version, correction.version) == (1, 2)
    assert correction.key == f"{tender.id}.v2"
    assert correction.digest() != tender.digest()


def _walk(value: Any, key: str = "") -> list[tuple[str, Any]]:
    found = [(key, value)]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            found += _walk(v, key)
    return found


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_amounts_are_strings(name: str) -> None:
    data = json.loads((EXAMPLES / name).read_text("utf-8"), parse_float=float)
    numbers = [(k, v) for k, v in _walk(data) if k in {"value", "area_m2"}]
    for key, value in numbers:
        assert isinstance(value, str), f"{name}: {key} is {value!r}, amounts are strings"
    units = [v for k, v in _walk(data) if k == "unit"]
    assert set(units) <= {"元", "万元"}


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_attachments_match_their_files(name: str) -> None:
    notice = Notice.parse(example(name))
    for att in notice.attachments:
        assert att.path is not None
        content = (REPO / att.path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == att.sha256
        assert att.size == len(content)


def _working_days(start: date, end: date) -> int:
    """Weekdays from start to end inclusive; the examples' windows hold no public holiday."""
    days = (start + timedelta(days=i) for i in range((end - start).days + 1))
    return sum(1 for d in days if d.weekday() < 5)


def test_examples_respect_the_publication_periods() -> None:
    tender = Notice.parse(example("construction-tender.json"))
    assert tender.deadlines is not None
    assert tender.deadlines.doc_sale_start
    assert tender.deadlines.doc_sale_end
    # 招标投标法实施条例 Art. 16: documents on sale for at least 5 days.
    sale = tender.deadlines.doc_sale_end - tender.deadlines.doc_sale_start
    assert sale >= timedelta(days=5)
    # 招标投标法 Art. 24: at least 20 days from the documents to the submission deadline.
    assert tender.deadlines.submission_deadline is not None
    to_submission = tender.deadlines.submission_deadline - tender.deadlines.doc_sale_start
    assert to_submission >= timedelta(days=20)

    correction = Notice.parse(example("construction-tender-correction.json"))
    assert correction.deadlines
    assert correction.deadlines.submission_deadline
    # A correction that touches the documents moves the deadline at least 15 days out.
    assert correction.deadlines.submission_deadline - correction.publish_at >= timedelta(days=15)

    # Art. 54: candidates published for at least 3 days.
    candidates = Notice.parse(example("construction-candidates.json"))
    assert candidates.valid_until is not None
    assert candidates.valid_until - candidates.publish_at >= timedelta(days=3)
    assert candidates.construction is not None
    assert [c.rank for c in candidates.construction.candidates] == [1, 2, 3]
    assert all(c.bid_price is not None for c in candidates.construction.candidates)

    # 政府采购法实施条例 Art. 38: single source publicity for at least 5 working days.
    single = Notice.parse(example("procurement-single-source.json"))
    assert single.valid_until is not None
    assert _working_days(single.publish_at.date(), single.valid_until.date()) >= 5

    land = Notice.parse(example("land-transfer.json"))
    block = land.land_mineral
    assert block is not None
    assert block.listing_start
    assert block.listing_end
    assert block.listing_start - land.publish_at >= timedelta(days=20)
    assert block.listing_end - block.listing_start >= timedelta(days=10)
    assert len(block.parcels) == 2

    prop = Notice.parse(example("state-property-transfer.json"))
    sp = prop.state_property
    assert sp is not None
    assert sp.disclosure_start
    assert sp.disclosure_end
    assert _working_days(sp.disclosure_start.date(), sp.disclosure_end.date()) >= 20
    assert sp.appraisal is not None
    assert sp.reserve_price is not None


def test_land_deal_names_winner_and_price() -> None:
    deal = Notice.parse(example("land-deal.json"))
    assert deal.land_mineral is not None
    parcel = deal.land_mineral.parcels[0]
    assert parcel.winner
    assert parcel.deal_price is not None
    assert parcel.deal_price.in_yuan() >= parcel.start_price.in_yuan()


def test_work_news_has_no_project_code() -> None:
    news = Notice.parse(example("work-news.json"))
    assert news.project_code is None


# --- the digest --------------------------------------------------------------------


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_digest_is_stable_and_ignores_key_order_and_whitespace(name: str) -> None:
    data = example(name)
    digest = Notice.parse(data).digest()
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert Notice.parse(copy.deepcopy(data)).digest() == digest
    assert Notice.parse(_reorder(data)).digest() == digest
    assert Notice.parse(json.dumps(_reorder(data), indent=7)).digest() == digest
    assert Notice.parse(json.dumps(data).encode()).digest() == digest


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_digest_is_sha256_of_canonical_json_and_round_trips(name: str) -> None:
    notice = Notice.parse(example(name))
    canonical = notice.canonical_json()
    assert notice.digest() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    again = Notice.parse(canonical)
    assert again == notice
    assert again.canonical_json() == canonical


def _later(stamp: str, seconds: int) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("title", lambda v: v + " "),
        ("version", lambda v: v + 1),
        ("summary", lambda v: v.replace("，", ",", 1)),
        ("region_code", lambda v: "441600"),
        ("publish_at", lambda v: _later(v, 1)),
        ("body_html", lambda v: v.replace("<p>", "<p> ", 1)),
    ],
)
def test_different_content_gives_a_different_digest(field: str, change: Any) -> None:
    data = example("construction-tender.json")
    before = Notice.parse(data).digest()
    changed = change(data[field])
    assert changed != data[field]
    assert Notice.parse(dict(data, **{field: changed})).digest() != before


def test_amount_change_changes_the_digest() -> None:
    data = example("construction-tender.json")
    before = Notice.parse(data).digest()
    data["construction"]["max_price"]["value"] = "3850000.01"
    assert Notice.parse(data).digest() != before
    data["construction"]["max_price"] = {"value": "3850000.00", "unit": "万元"}
    assert Notice.parse(data).digest() != before


def test_same_instant_in_another_offset_is_the_same_instant() -> None:
    data = example("work-news.json")
    local = datetime.fromisoformat(data["publish_at"])
    utc = dict(data, publish_at=local.astimezone(UTC).isoformat())
    assert Notice.parse(utc).publish_at == Notice.parse(data).publish_at


# --- amounts -------------------------------------------------------------------------


def test_float_amounts_refused() -> None:
    data = example("construction-tender.json")
    data["construction"]["max_price"]["value"] = 3850000.0
    error = refused(data)
    assert paths(error) == {"construction.max_price.value"}
    assert "not a float" in str(error)


def test_float_area_refused() -> None:
    data = example("land-transfer.json")
    data["land_mineral"]["parcels"][0]["area_m2"] = 18635.42
    error = refused(data)
    assert paths(error) == {"land_mineral.parcels.0.area_m2"}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "NaN", "-Infinity", "sNaN"])
def test_non_finite_amounts_refused(value: Any) -> None:
    data = example("state-property-transfer.json")
    data["state_property"]["reserve_price"]["value"] = value
    error = refused(data)
    assert paths(error) == {"state_property.reserve_price.value"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_refused(literal: str) -> None:
    text = json.dumps(example("state-property-transfer.json"), ensure_ascii=False)
    text = text.replace('"value": "86.42"', f'"value": {literal}', 1)
    error = refused(text)
    assert literal.lstrip("-") in str(error)


def test_negative_amount_refused() -> None:
    data = example("procurement-result.json")
    data["procurement"]["award"][1]["amount"]["value"] = "-2298000.00"
    assert paths(refused(data)) == {"procurement.award.1.amount.value"}


def test_amounts_are_decimal_and_convert_units() -> None:
    notice = Notice.parse(example("land-transfer.json"))
    assert notice.land_mineral is not None
    price = notice.land_mineral.parcels[1].start_price
    assert price.value == Decimal("6890.00")
    assert price.unit == "万元"
    assert price.in_yuan() == Decimal("68900000.00")
    assert notice.land_mineral.parcels[0].area_m2 == Decimal("18635.42")


# --- consistency rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "notice_type"),
    [
        ("work_news", "tender"),
        ("construction", "news"),
        ("construction", "single_source"),
        ("land_mineral", "tender"),
        ("state_property", "candidates"),
        ("procurement", "transfer"),
    ],
)
def test_type_must_belong_to_category(category: str, notice_type: str) -> None:
    data = example("work-news.json")
    data.update(category=category, notice_type=notice_type, project_code="HY2026-001")
    error = refused(data)
    assert "notice_type" in str(error)
    assert f"{notice_type!r} does not belong to category {category!r}" in str(error)


@pytest.mark.parametrize("name", [f for f in EXAMPLE_FILES if f != "work-news.json"])
def test_project_code_required_except_for_work_news(name: str) -> None:
    data = example(name)
    del data["project_code"]
    assert "project_code is required" in str(refused(data))


def test_work_news_may_carry_a_project_code() -> None:
    news = Notice.parse(dict(example("work-news.json"), project_code="HYZX2026-12"))
    assert news.project_code == "HYZX2026-12"


@pytest.mark.parametrize("offset", [-1, 0])
def test_valid_until_must_follow_publish_at(offset: int) -> None:
    data = example("construction-tender.json")
    at = datetime.fromisoformat(data["publish_at"]).astimezone(UTC)
    data["valid_until"] = (at + timedelta(seconds=offset)).isoformat()
    assert "valid_until must be after publish_at" in str(refused(data))


def test_expiry() -> None:
    notice = Notice.parse(example("construction-candidates.json"))
    assert notice.valid_until is not None
    assert not notice.is_expired(notice.valid_until - timedelta(seconds=1))
    assert notice.is_expired(notice.valid_until)
    news = Notice.parse(example("work-news.json"))
    assert not news.is_expired(datetime(2999, 1, 1).astimezone())


BLOCK_SOURCES = {
    "construction": "construction-tender.json",
    "procurement": "procurement-tender.json",
    "land_mineral": "land-transfer.json",
    "state_property": "state-property-transfer.json",
}


@pytest.mark.parametrize(
    ("block", "host"),
    [
        (block, host)
        for block in sorted(BLOCK_SOURCES)
        for host in [*sorted(BLOCK_SOURCES.values()), "work-news.json"]
        if host != BLOCK_SOURCES[block]
    ],
)
def test_extension_block_of_another_category_refused(block: str, host: str) -> None:
    data = example(host)
    data[block] = example(BLOCK_SOURCES[block])[block]
    error = refused(data)
    assert f"the {block} block belongs to category {block!r}" in str(error)


@pytest.mark.parametrize(
    "bad_id",
    ["../../etc/passwd", "a/b", ".hidden", "", "a b", "a\\b", "-rf", "x" * 129, "公告1", "a\n"],
)
def test_unsafe_ids_refused(bad_id: str) -> None:
    data = dict(example("work-news.json"), id=bad_id)
    assert paths(refused(data)) == {"id"}


def test_duplicate_candidate_ranks_refused() -> None:
    data = example("construction-candidates.json")
    data["construction"]["candidates"][2]["rank"] = 1
    error = refused(data)
    assert paths(error) == {"construction"}
    assert "candidate ranks must be unique" in str(error)


def test_every_problem_is_reported_with_its_field_path() -> None:
    data = example("land-transfer.json")
    data["land_mineral"]["parcels"][0]["area_m2"] = "-1"
    data["land_mineral"]["parcels"][1]["term_years"] = 71
    data["land_mineral"]["parcels"][1]["deposit"]["unit"] = "美元"
    data["region_code"] = "4416"
    data["publisher"]["contact"]["fax"] = "0762-3363121"
    error = refused(data)
    assert paths(error) == {
        "land_mineral.parcels.0.area_m2",
        "land_mineral.parcels.1.term_years",
        "land_mineral.parcels.1.deposit.unit",
        "region_code",
        "publisher.contact.fax",
    }
    lines = str(error).splitlines()
    assert len(lines) == 5
    assert any(line.startswith("land_mineral.parcels.0.area_m2: ") for line in lines)
    assert "publisher.contact.fax: unknown field" in lines


def test_source_names_the_file() -> None:
    with pytest.raises(NoticeError) as info:
        Notice.parse(b"{", source="upstream/batch-7.json")
    assert str(info.value).startswith("upstream/batch-7.json:1: not valid JSON")


# --- attachments: where the worker reads from, what renderers link to -----------------
# An attachment's path is read from the worker's disk and its url lands in an href.


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../../../etc/passwd", "examples/../../secret.pdf"]
)
def test_attachment_path_outside_the_tree_refused(path: str) -> None:
    data = example("construction-tender.json")
    data["attachments"][0]["path"] = path
    assert "attachments.0.path" in paths(refused(data))


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "file:///etc/passwd", "data:text/html,<script>x</script>"]
)
def test_attachment_url_must_be_http(url: str) -> None:
    data = example("construction-tender.json")
    data["attachments"][0]["url"] = url
    assert "attachments.0.url" in paths(refused(data))


# --- the JSON Schema -----------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = notice_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_validates_against_schema(
    name: str, validator: jsonschema.Draft202012Validator
) -> None:
    errors = [e.message for e in validator.iter_errors(example(name))]
    assert errors == []


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("title"), "title"),
        (lambda d: d.update(region_code="4416"), "region_code"),
        (lambda d: d.update(category="engineering"), "category"),
        (lambda d: d.update(priority="high"), "priority"),
        (lambda d: d.update(id="../../etc/passwd"), "id"),
        (lambda d: d["construction"]["max_price"].update(unit="美元"), "unit"),
    ],
)
def test_schema_refuses_what_the_model_refuses(
    edit: Any, where: str, validator: jsonschema.Draft202012Validator
) -> None:
    data = example("construction-tender.json")
    edit(data)
    assert list(validator.iter_errors(data))
    assert where in str(refused(data))


# --- property: whatever comes in, only a NoticeError comes out ---------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        ["", "441600", "2026-11-16T09:00:00+08:00", "2026-11-16T09:00:00", "NaN", "1e400", "万元"]
    )
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELD_NAMES = sorted(Notice.model_fields)


def _only_notice_error(data: Any) -> None:
    """Parse ``data``: a Notice or a NoticeError with problems, never another exception."""
    try:
        Notice.parse(data)
    except NoticeError as exc:
        problems, text = list(exc.problems), str(exc)
    else:
        return
    assert problems
    assert text


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=10), json_values))
def test_arbitrary_dicts_raise_only_notice_error(data: dict[str, Any]) -> None:
    _only_notice_error(data)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_values_raise_only_notice_error(data: Any) -> None:
    _only_notice_error(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_and_text_raise_only_notice_error(data: bytes | str) -> None:
    _only_notice_error(data)


def _locations(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here] if here else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _locations(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _locations(v, (*here, i))
    return found


@st.composite
def mutated_examples(draw: st.DrawFn) -> dict[str, Any]:
    data = example(draw(st.sampled_from(EXAMPLE_FILES)))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_locations(data)))
        parent: Any = data
        for step in where[:-1]:
            parent = parent[step]
        last = where[-1]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[last] = draw(json_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[last]
        elif action == "delete":
            parent.pop(last)
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        else:
            parent.append(draw(json_values))
        if not _locations(data):
            break
    return data


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_examples())
def test_mutated_examples_raise_only_notice_error(data: dict[str, Any]) -> None:
    _only_notice_error(data)
    _only_notice_error(json.dumps(data, default=str, allow_nan=True))
