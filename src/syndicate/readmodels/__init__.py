"""Read models: the one place the ledger is queried for people and programs.

Plain frozen data with ``as_dict()`` (JSON-ready, times in UTC ISO 8601),
no terminal formatting. The CLI, the HTTP API and the dashboard reach them
through ``Syndicator`` and only render them. Lists are newest first, in
pages continued by an opaque cursor.
"""

from __future__ import annotations

from ..store.base import AttemptFilter, DeliveryFilter, NoticeFilter, NoticeState
from .channels import ChannelHealth, ChannelStatus, LastError, SuccessRate
from .common import DEFAULT_PAGE, MAX_PAGE, NoticeRef, Page, iso, parse_notice_ref
from .failures import ChannelSwitch, FailureGroup, Failures
from .ledger import (
    ATTEMPT_FIELDS,
    AttemptEntry,
    DeliveryDetail,
    DeliveryEntry,
    NoticeDetail,
    NoticeSummary,
    NoticeVersion,
)
from .matrix import MatrixLine, MatrixPage
from .overview import Incident, Overview, Today
from .preview import Preview, PreviewPart
from .run import RunSummary, RunTally
from .status import Awaiting, CircuitView, MatrixCell, MatrixRow, StatusMatrix
from .yearly import YearReport

__all__ = [
    "ATTEMPT_FIELDS",
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "AttemptEntry",
    "AttemptFilter",
    "Awaiting",
    "ChannelHealth",
    "ChannelStatus",
    "ChannelSwitch",
    "CircuitView",
    "DeliveryDetail",
    "DeliveryEntry",
    "DeliveryFilter",
    "FailureGroup",
    "Failures",
    "Incident",
    "LastError",
    "MatrixCell",
    "MatrixLine",
    "MatrixPage",
    "MatrixRow",
    "NoticeDetail",
    "NoticeFilter",
    "NoticeRef",
    "NoticeState",
    "NoticeSummary",
    "NoticeVersion",
    "Overview",
    "Page",
    "Preview",
    "PreviewPart",
    "RunSummary",
    "RunTally",
    "StatusMatrix",
    "SuccessRate",
    "Today",
    "YearReport",
    "iso",
    "parse_notice_ref",
]
