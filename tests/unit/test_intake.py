"""Every way in is equally strict: files, standard input (one object, an array, JSON lines), the API."""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syndicate.errors import NoticeError
from syndicate.intake import file_sources, read_notice_file, stdin_sources
from syndicate.notice import MAX_DEPTH, MAX_NOTICE_BYTES, Notice, loads_notice_json
from tests.conftest import BASE_NOTICE

EXACT = "1234567890123456.78"  # a float keeps 17 significant digits: ...456.8


def notice_text(**fields: Any) -> str:
    data = copy.deepcopy(BASE_NOTICE)
    data.update(fields)
    return json.dumps(data, ensure_ascii=False)


def with_number_amount() -> str:
    # The amount as a JSON number, not a string: exact as Decimal, rounded as a float.
    return notice_text().replace('"value": "3850000.00"', f'"value": {EXACT}')


def parsed(source: bytes | dict[str, Any] | NoticeError) -> Notice:
    if isinstance(source, NoticeError):
        raise source
    return Notice.parse(source)


@pytest.mark.parametrize("shape", ["object", "array", "lines", "file", "api"])
def test_amounts_are_exact_whichever_way_in(shape: str, tmp_path: Path) -> None:
    text = with_number_amount()
    if shape == "api":
        notices = [Notice.parse(text)]
    elif shape == "file":
        (tmp_path / "n.json").write_text(text, encoding="utf-8")
        notices = [parsed(s) for _, s in file_sources(tmp_path)]
    else:
        data = {"object": text, "array": f"[{text}, {text}]", "lines": f"{text}\n{text}\n"}[shape]
        notices = [parsed(s) for _, s in stdin_sources(io.BytesIO(data.encode()))]
    for n in notices:
        assert n.construction is not None
        assert n.construction.max_price is not None
        assert n.construction.max_price.value == Decimal(EXACT)


@pytest.mark.parametrize("shape", ["object", "array", "lines"])
def test_duplicate_keys_are_refused_whichever_way_in(shape: str) -> None:
    text = notice_text()[:-1] + ', "title": "另一个标题"}'
    data = {"object": text, "array": f"[{text}]", "lines": f"{notice_text()}\n{text}\n"}[shape]
    *_, (_, last) = stdin_sources(io.BytesIO(data.encode()))
    with pytest.raises(NoticeError, match="duplicate key 'title'"):
        parsed(last)


@pytest.mark.parametrize("shape", ["array", "api"])
def test_deep_nesting_is_a_clear_error(shape: str) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    if shape == "api":
        with pytest.raises(NoticeError, match="nested too deeply"):
            Notice.parse(deep)
        return
    [(_, source)] = list(stdin_sources(io.BytesIO(deep.encode())))
    assert isinstance(source, NoticeError)
    assert "nested too deeply" in str(source)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        # At the limit, and one past it, with no other brackets: the count alone decides.
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, False),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), True),
        # Brackets inside strings are no nesting, however many: the exact walk decides.
        ('{"a": "' + "[{" * MAX_DEPTH + '"}', False),
        ('{"a": "' + "[{" * MAX_DEPTH + '", "b": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}", True),
        ('{"a": "' + "[{" * MAX_DEPTH + '", "b": ' + "[" * 31 + "]" * 31 + "}", False),
    ],
)
def test_nesting_is_measured_not_bracket_counted(text: str, refused: bool) -> None:
    if refused:
        with pytest.raises(NoticeError, match="nested too deeply"):
            loads_notice_json(text)
    else:
        loads_notice_json(text)


def test_a_huge_file_is_refused_from_its_size(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as f:
        f.truncate(100 << 20)  # sparse: 100 MB that cost nothing to make
    with pytest.raises(NoticeError, match="too large"):
        read_notice_file(huge)
    [(_, source)] = list(file_sources(huge))
    assert isinstance(source, NoticeError)
    with pytest.raises(NoticeError, match="too large"):
        Notice.parse(b" " * (MAX_NOTICE_BYTES + 1))


@pytest.mark.parametrize("char", ["\u009b", "\u202e", "\x1b"])
def test_terminal_and_bidi_controls_are_refused_in_text(char: str) -> None:
    with pytest.raises(NoticeError, match="control character"):
        Notice.parse(notice_text(title=f"河源{char}[2J公告"))
