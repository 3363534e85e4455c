"""The shapes of the API's answers, as the OpenAPI documents them.

The read models' ``as_dict()`` is what is sent; these models only describe
it, and FastAPI checks every answer against them, so a read model that drifts
from the documentation fails its tests instead of surprising a client.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    # Answers may grow fields; clients must ignore what they do not know.
    model_config = ConfigDict(extra="allow")


class DeliveryCounts(_Open):
    delivered: int
    unfinished: int
    failed_or_dead: int


class NoticeSummary(_Open):
    id: str
    version: int
    category: str
    category_label: str
    notice_type: str
    notice_type_label: str
    region_code: str
    title: str
    project_code: str | None
    digest: str
    accepted_at: str | None
    publish_at: str | None
    state: str
    deliveries: DeliveryCounts


class Delivery(_Open):
    id: int
    notice: str
    version: int
    channel: str
    state: str
    attempts: int
    next_attempt_at: str | None
    idempotency_key: str
    remote_id: str | None
    remote_url: str | None
    last_error: str | None
    updated_at: str | None
    title: str
    category: str


class Attempt(_Open):
    attempt: int
    delivery: int
    notice: str
    version: int
    channel: str
    number: int
    worker: str | None
    started_at: str | None
    finished_at: str | None
    outcome: str
    error_class: str | None
    error_message: str | None
    status: str | None
    remote_id: str | None
    remote_url: str | None
    payload_sha256: str | None


class NoticePage(_Open):
    items: list[NoticeSummary]
    next_cursor: str | None


class DeliveryPage(_Open):
    items: list[Delivery]
    next_cursor: str | None


class AttemptPage(_Open):
    items: list[Attempt]
    next_cursor: str | None


class DeliveryDetail(Delivery):
    attempt_log: list[Attempt]


class Approval(_Open):
    id: int
    position: int
    step: str
    decision: str
    by: str
    digest: str
    comment: str | None
    via: str | None
    at: str


class ApprovalTrail(_Open):
    steps: list[str]
    state: str  # awaiting_approval | approved | rejected
    pending_step: str | None
    decisions: list[Approval]


class NoticeVersion(_Open):
    version: int
    category: str
    notice_type: str
    region_code: str
    title: str
    digest: str
    accepted_at: str | None
    publish_at: str | None
    state: str
    deliveries: list[DeliveryDetail]
    approval: ApprovalTrail | None = None  # None: the version needed no approval


class NoticeDetail(_Open):
    id: str
    versions: list[NoticeVersion]


class Channel(_Open):
    name: str
    adapter: str | None
    enabled: bool
    paused: bool
    paused_at: str | None
    paused_by: str | None
    circuit: dict[str, Any]
    deliveries: dict[str, int]
    backlog: int
    oldest_pending_age_seconds: float | None
    success_1h: dict[str, Any]
    success_24h: dict[str, Any]
    last_error: dict[str, Any] | None


class Channels(_Open):
    at: str | None
    channels: list[Channel]


class Report(_Open):
    year: int
    labels: dict[str, str]
    channels: list[str]
    notices: dict[str, int]
    delivered: dict[str, dict[str, int]]
    total_notices: int
    not_delivered: int


class PreviewPart(_Open):
    name: str
    size: int
    sha256: str
    text: str | None


class Preview(_Open):
    notice: str
    version: int
    channel: str
    idempotency_key: str
    target: str
    media_type: str
    headers: dict[str, str]
    parts: list[PreviewPart]
    payload_sha256: str
    notice_digest: str
