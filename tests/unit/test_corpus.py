"""Hostile input: every malformed notice is refused with a NoticeError that names the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from syndicate.errors import NoticeError
from syndicate.notice import MAX_BODY_CHARS, Notice

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
MALFORMED = CORPUS / "notices"
HOSTILE_VALID = CORPUS / "hostile-valid"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "notices"

EXPECTED: dict[str, str] = yaml.safe_load((MALFORMED / "EXPECTED.yaml").read_text("utf-8"))

# A JSON number with a huge exponent used to be expanded into a billion-digit integer;
# the bound only turns that hang into a failure, a correct parser answers at once.
SLOW_WHEN_BROKEN = {"version-huge-exponent.json": 30}


def _params() -> list[object]:
    params: list[object] = []
    for name in sorted(EXPECTED):
        marks = []
        if name in SLOW_WHEN_BROKEN:
            marks.append(pytest.mark.timeout(SLOW_WHEN_BROKEN[name]))
        params.append(pytest.param(name, EXPECTED[name], id=name, marks=marks))
    return params


def assert_refused(data: bytes, expected: str, source: str) -> NoticeError:
    """Parse ``data``; only a NoticeError naming ``expected`` may come out."""
    with pytest.raises(NoticeError) as info:
        Notice.parse(data, source=source)
    error = info.value
    assert error.problems, "a NoticeError must carry at least one Problem"
    text = str(error)
    assert expected in text, f"expected {expected!r} in:\n{text}"
    assert source in text, "every problem line names the file it came from"
    return error


def test_index_and_folder_agree() -> None:
    on_disk = {p.name for p in MALFORMED.iterdir()} - {"EXPECTED.yaml"}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 40
    assert all(isinstance(v, str) and v for v in EXPECTED.values())


@pytest.mark.parametrize(("name", "expected"), _params())
def test_malformed_notice_is_refused(name: str, expected: str) -> None:
    assert_refused((MALFORMED / name).read_bytes(), expected, name)


def _tender() -> dict[str, object]:
    data: dict[str, object] = json.loads((EXAMPLES / "construction-tender.json").read_text("utf-8"))
    return data


def _body_over_limit() -> bytes:
    return json.dumps(dict(_tender(), body_html="招" * (MAX_BODY_CHARS + 1))).encode()


def _body_at_limit() -> bytes:
    return json.dumps(dict(_tender(), body_html="招" * MAX_BODY_CHARS)).encode()


def _nested_arrays() -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def _nested_objects() -> bytes:
    return b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def _nested_in_field() -> bytes:
    text = json.dumps(_tender(), ensure_ascii=False)
    return text.replace(
        '"summary": ', '"summary": ' + "[" * 100_000 + "]" * 100_000 + ',\n"summary_": ', 1
    ).encode()


GENERATED: dict[str, tuple[Callable[[], bytes], str]] = {
    "body-over-limit": (_body_over_limit, "body_html"),
    "nested-arrays-100000": (_nested_arrays, "nested too deeply"),
    "nested-objects-100000": (_nested_objects, "nested too deeply"),
    "nested-arrays-in-a-field": (_nested_in_field, "nested too deeply"),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_hostile_input_is_refused(name: str) -> None:
    make, expected = GENERATED[name]
    assert_refused(make(), expected, name)


def test_body_at_the_limit_is_accepted() -> None:
    # The limit is a limit, not an off-by-one: the largest allowed body still parses.
    assert len(Notice.parse(_body_at_limit()).body_html) == MAX_BODY_CHARS


def test_no_problem_echoes_the_refused_value() -> None:
    marker = "ZZ-REFUSED-VALUE-ZZ"
    bad = dict(_tender(), region_code=marker, category=marker, publish_at=marker)
    with pytest.raises(NoticeError) as info:
        Notice.parse(bad)
    assert {p.path for p in info.value.problems} >= {"region_code", "category", "publish_at"}
    assert marker not in str(info.value)


# --- valid notices that carry markup: the renderers must escape them ------------------


HOSTILE = sorted(p.name for p in HOSTILE_VALID.glob("*.json"))


def test_hostile_valid_corpus_is_there() -> None:
    assert len(HOSTILE) >= 3


@pytest.mark.parametrize("name", HOSTILE)
def test_markup_in_text_is_valid_and_kept_verbatim(name: str) -> None:
    raw = (HOSTILE_VALID / name).read_bytes()
    notice = Notice.parse(raw, source=name)
    data = json.loads(raw)
    assert notice.title == data["title"]
    assert notice.summary == data["summary"]
    assert notice.body_html == data["body_html"]
    if notice.land_mineral is not None:
        parcel = data["land_mineral"]["parcels"][0]
        assert notice.land_mineral.parcels[0].location == parcel["location"]
        assert notice.land_mineral.parcels[0].use == parcel["use"]
    assert "<script>" in notice.canonical_json()
    again = Notice.parse(notice.canonical_json())
    assert again == notice
    assert again.digest() == notice.digest()
