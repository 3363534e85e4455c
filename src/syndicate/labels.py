"""The Chinese labels operators, editors and the yearly report read: one set, used everywhere.

The category labels are the center's own wording in its yearly
information-disclosure report (工程建设, 政府采购, 土地矿产, 国有产权, 工作动态).
A notice published in several media must read the same in each, so no
channel or view keeps labels of its own.
"""

from __future__ import annotations

CATEGORY_LABELS: dict[str, str] = {
    "construction": "工程建设",
    "procurement": "政府采购",
    "land_mineral": "土地矿产",
    "state_property": "国有产权",
    "work_news": "工作动态",
}

# Two characters each, for screens a few cells wide (LED displays).
CATEGORY_SHORT_LABELS: dict[str, str] = {
    "construction": "招标",
    "procurement": "采购",
    "land_mineral": "土地",
    "state_property": "产权",
    "work_news": "动态",
}

TYPE_LABELS: dict[str, str] = {
    "tender": "招标公告",
    "prequalification": "资格预审公告",
    "candidates": "中标候选人公示",
    "result": "结果公告",
    "pre_notice": "预公告",
    "single_source": "单一来源公示",
    "contract": "合同公告",
    "transfer": "出让/转让公告",
    "deal": "成交公示",
    "news": "工作动态",
}

# An original notice carries no nature label; the others say what they change.
NATURE_LABELS: dict[str, str] = {
    "correction": "更正",
    "clarification": "澄清",
    "termination": "终止",
}


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def type_label(notice_type: str) -> str:
    return TYPE_LABELS.get(notice_type, notice_type)
