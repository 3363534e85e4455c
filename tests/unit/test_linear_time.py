"""Nothing quadratic: 1 MB of input built to make a naive regex or parser crawl, through each step.

Each of these took minutes or hours before (a regex backtracking from every
`<`, a tree builder re-parenting a table's content piece by piece). The
timeout below is a safety net, not a measurement: a quadratic step does not
finish within it, a linear one takes a fraction of it (bench/ measures).
"""

from __future__ import annotations

import copy
import json

import pytest
from syndicate_adapters._http import server_message

from syndicate.errors import NoticeError
from syndicate.masking import Masker
from syndicate.notice import Notice, json_depth
from syndicate.safeout import csv_cell, terminal_text
from syndicate.sanitize import markup_problem
from tests.conftest import BASE_NOTICE

MB = 1 << 20
HOSTILE = {
    "unclosed-tags": "<a" * (MB // 2),
    "dotted-words": "a." * (MB // 2),
    "one-long-word": "a" * MB,
    "url-without-end": "http://" + "a" * MB,
    "scheme-colons": "x://a:" * (MB // 6),
    "bearer-words": "bearer " * (MB // 7),
    "query-keys": "?token=" * (MB // 7),
    "json-passwords": '"password": "' * (MB // 13),
    "escapes": "\x1b[" * (MB // 2),
    "brackets": "[" * MB,
    "backslashes": '"\\' * (MB // 2),
    "table-content": "<table>" + "x<b>y</b>" * (MB // 9),
    "deep-divs": "<div>" * (MB // 5),
    "entities": "&amp;" * (MB // 5),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_every_text_step_is_linear(name: str) -> None:
    text = HOSTILE[name]
    mask = Masker([f"SECRET-{i}-abcdef" for i in range(40)])
    assert mask.mask(text)
    assert server_message(text.encode(), mask=mask.mask)
    json_depth(text)
    terminal_text(text)
    csv_cell(text)
    markup_problem(text)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["unclosed-tags", "table-content", "deep-divs", "entities"])
def test_markup_that_would_stall_a_parser_is_refused_at_enqueue(name: str) -> None:
    data = copy.deepcopy(BASE_NOTICE)
    data["body_html"] = HOSTILE[name]
    with pytest.raises(NoticeError, match="body_html: HTML refused") as refused:
        Notice.parse(json.dumps(data))
    assert len(refused.value.problems) == 1
