"""Text from peers and notices made safe to look at: on a terminal, in a spreadsheet, as JSON.

A channel's answer or a notice's title can carry terminal control sequences
(which can rewrite the screen, set the window title or hide lines) or a CSV
cell starting with ``=`` that a spreadsheet would run as a formula. Every
output of the CLI passes such text through these functions.
"""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls, DEL, and the bidirectional overrides and isolates that can reorder a line.
_BIDI = r"\u200e\u200f\u202a-\u202e\u2066-\u2069"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escapes(*, keep_lines: bool) -> dict[int, str]:
    codes = [*range(0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F)]
    codes += range(0x2066, 0x206A)
    table = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in codes}
    if keep_lines:
        del table[ord("\n")], table[ord("\t")]
    return table


# str.translate: one pass in C, whatever the text holds.
_ESCAPES = _escapes(keep_lines=False)
_ESCAPES_KEEP_LINES = _escapes(keep_lines=True)


def terminal_text(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control character shown as ``\\xNN`` instead of acting on the terminal.

    ``keep_lines`` keeps newlines and tabs (a preview of a whole payload).
    """
    return text.translate(_ESCAPES_KEEP_LINES if keep_lines else _ESCAPES)


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text that a spreadsheet would take for a formula is quoted with '."""
    if isinstance(value, str):
        value = terminal_text(value)
        if value.startswith(_FORMULA_START):
            return "'" + value
    return value


def json_text(document: str) -> str:
    """JSON text with C1 controls and bidi overrides written as ``\\uXXXX`` escapes.

    ``json.dumps`` escapes only the C0 controls; a terminal acts on the rest.
    """
    return re.sub(
        rf"[\x7f-\x9f{_BIDI}]",
        lambda m: f"\\u{ord(m.group()):04x}",
        document,
    )
