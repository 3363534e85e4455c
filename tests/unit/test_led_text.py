"""Fitting notice text to an LED screen: cells, not characters."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from syndicate_adapters.led_feed import ELLIPSIS, fit_text, normalize_text
from wcwidth import wcswidth


def cells(line: str) -> int:
    width = wcswidth(line)
    assert width >= 0, f"unmeasurable line {line!r}"
    return width


def assert_pieces_of(lines: list[str], text: str) -> bool:
    """Assert ``lines`` are consecutive pieces of the normalised text; return True if truncated.

    Only a single space where a line breaks may be left out; the last line of a
    truncated text ends with the ellipsis, which is not part of the text.
    """
    norm = normalize_text(text)
    pos = 0
    for k, line in enumerate(lines):
        assert not line.startswith(" "), lines
        if k > 0 and norm[pos : pos + 1] == " ":
            pos += 1
        last = k == len(lines) - 1
        if last and norm[pos:] != line:
            assert line.endswith(ELLIPSIS), (lines, norm)
            assert norm[pos:].startswith(line[: -len(ELLIPSIS)]), (lines, norm)
            return True
        assert norm[pos:].startswith(line), (lines, norm, pos)
        pos += len(line)
    assert pos == len(norm), (lines, norm)
    return False


# --- examples ------------------------------------------------------------------


def test_full_width_characters_count_two_cells() -> None:
    assert fit_text("河源市公共资源", 8, 2) == ["河源市公", "共资源"]


def test_exact_fit_has_no_ellipsis() -> None:
    assert fit_text("一二三四", 8, 1) == ["一二三四"]


def test_ellipsis_counts_its_own_width() -> None:
    # 一二三 (6) + 四 (2) + … (1) = 9 > 8: the fourth character makes way for the ellipsis
    assert fit_text("一二三四五", 8, 1) == ["一二三…"]
    assert cells("一二三…") == 7


def test_full_width_character_is_never_cut_in_half() -> None:
    # 'a' + '中' = 3 cells; with 2 columns the 中 moves whole to the next line
    assert fit_text("a中b", 2, 3) == ["a", "中", "b"]
    assert fit_text("abc中文", 4, 2) == ["abc", "中文"]


def test_digit_run_moves_whole_when_it_fits_a_line() -> None:
    assert fit_text("预算1234567元", 8, 3) == ["预算", "1234567", "元"]


def test_latin_word_moves_whole_and_break_space_is_dropped() -> None:
    assert fit_text("bid opening at 10:00 today", 10, 3) == ["bid", "opening at", "10:00…"]
    assert fit_text("bid opening at 10:00 today", 10, 4) == ["bid", "opening at", "10:00", "today"]


def test_code_with_joiners_is_one_word() -> None:
    # HYZB-2016-001 (13 cells) moves to the next line as a whole
    assert fit_text("项目编号HYZB-2016-001", 14, 2) == ["项目编号", "HYZB-2016-001"]
    # a decimal stays together
    assert fit_text("面积 12.5 公顷", 6, 3) == ["面积", "12.5", "公顷"]


def test_word_longer_than_a_line_is_split() -> None:
    assert fit_text("ABCDEFGHIJ", 4, 3) == ["ABCD", "EFGH", "IJ"]
    assert fit_text("ABCDEFGHIJKLMN", 4, 3) == ["ABCD", "EFGH", "IJK…"]


def test_mixed_chinese_latin_digits_with_label() -> None:
    text = "【招标】河源市源城区2016年市政道路改造工程(HYZB-2016-001)施工招标,最高限价1234.56万元"
    lines = fit_text(text, 16, 6)
    assert lines == [
        "【招标】河源市源",
        "城区2016年市政道",
        "路改造工程(",  # the project code moves whole
        "HYZB-2016-001)施",
        "工招标,最高限价",
        "1234.56万元",
    ]
    assert all(cells(line) <= 16 for line in lines)
    # two lines fewer: the fourth line gives its last character to the ellipsis
    assert fit_text(text, 16, 4)[2:] == ["路改造工程(", "HYZB-2016-001)…"]


def test_truncation_drops_trailing_space_before_ellipsis() -> None:
    assert fit_text("中文 abcdefgh", 6, 1) == ["中文…"]


def test_whitespace_runs_and_controls_become_one_space() -> None:
    assert normalize_text("  a \n\t b\u3000c\x0bd  ") == "a b c d"
    assert fit_text("a \n\n b", 10, 1) == ["a b"]


def test_empty_text_gives_no_lines() -> None:
    assert fit_text("", 10, 2) == []
    assert fit_text(" \n ", 10, 2) == []


def test_emoji_and_combining_marks_stay_whole() -> None:
    assert fit_text("😀😀", 3, 2) == ["😀", "😀"]
    q = "q\u0307"  # no precomposed form: one grapheme of two code points
    assert fit_text(q * 3, 2, 2) == [q * 2, q]


def test_one_column_cannot_show_a_full_width_character() -> None:
    assert fit_text("中文", 1, 3) == [ELLIPSIS]
    assert fit_text("ab中", 1, 3) == ["a", "b", ELLIPSIS]


def test_geometry_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        fit_text("x", 0, 1)
    with pytest.raises(ValueError, match="at least one column"):
        fit_text("x", 4, 0)


# --- properties --------------------------------------------------------------------

MIXED = st.text(
    alphabet=st.sampled_from(
        list("河源市公共资源交易中心招标采购土地产权，。：【】（）")
        + list("ABCxyz0123456789")
        + [" ", " ", "-", ".", ":", "\n", "\u3000", "😀", "\u0307", "Ａ", "１", "…"]
    ),
    max_size=120,
)
GEOMETRY = st.tuples(st.integers(min_value=1, max_value=70), st.integers(min_value=1, max_value=6))


def check(text: str, columns: int, lines: int) -> list[str]:
    out = fit_text(text, columns, lines)
    assert len(out) <= lines
    for line in out:
        assert cells(line) <= columns, (line, columns)
        assert line == line.rstrip(" ")
    truncated = assert_pieces_of(out, text)
    if truncated:
        assert out[-1].endswith(ELLIPSIS)
    return out


@given(MIXED, GEOMETRY)
@example("【招标】河源市HYZB-2016-001工程", (5, 3))
@example("a 中", (2, 1))
def test_mixed_text_fits_the_screen(text: str, geometry: tuple[int, int]) -> None:
    check(text, *geometry)


@given(st.text(max_size=200), GEOMETRY)
def test_any_text_fits_the_screen(text: str, geometry: tuple[int, int]) -> None:
    check(text, *geometry)


@given(
    st.text(alphabet=st.sampled_from(list("河源招标公告ABC123-.")), max_size=100),
    GEOMETRY,
)
def test_joined_output_is_a_prefix_when_there_are_no_spaces(
    text: str, geometry: tuple[int, int]
) -> None:
    out = fit_text(text, *geometry)
    joined = "".join(out)
    if joined.endswith(ELLIPSIS):
        joined = joined[: -len(ELLIPSIS)]
    assert text.startswith(joined)
    assert joined == text or "".join(out).endswith(ELLIPSIS)


@given(MIXED, GEOMETRY)
def test_text_that_fits_is_shown_whole(text: str, geometry: tuple[int, int]) -> None:
    columns, lines = geometry
    norm = normalize_text(text)
    out = fit_text(text, columns, lines)
    if out and not out[-1].endswith(ELLIPSIS):
        assert not assert_pieces_of(out, text)
    # a one-line text that fits is never wrapped or truncated
    if cells(norm) <= columns and "…" not in norm:
        assert out == ([norm] if norm else [])
