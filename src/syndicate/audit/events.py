"""What the chain records of each ledger row: one body per kind, built from the row by name.

The store builds these from the rows its write just returned; ``verify``
builds them again from the rows it finds and compares. The same function on
both sides, so any edit to a recorded column shows.
"""

from __future__ import annotations

from typing import Any

from .chain import Event, Row, sha256

NOTICE_COLUMNS = (
    "pk",
    "id",
    "version",
    "category",
    "notice_type",
    "region_code",
    "title",
    "digest",
    "publish_at",
    "accepted_at",
)
DELIVERY_COLUMNS = (
    "id",
    "notice_pk",
    "channel",
    "idempotency_key",
    "state",
    "attempts",
    "remote_id",
    "remote_url",
    "last_error",
)
ATTEMPT_COLUMNS = (
    "id",
    "delivery_id",
    "number",
    "worker",
    "fence",
    "started_at",
    "finished_at",
    "outcome",
    "error_class",
    "error_message",
    "status",
    "remote_id",
    "remote_url",
    "payload_sha256",
)
APPROVAL_REQUEST_COLUMNS = ("notice_pk", "steps", "step_count", "channels")
APPROVAL_COLUMNS = (
    "id",
    "notice_pk",
    "position",
    "step",
    "decision",
    "approver",
    "digest",
    "comment",
    "via",
    "at",
)
_FLOATS = {"publish_at", "accepted_at", "started_at", "finished_at", "at"}


def _value(column: str, value: Any) -> Any:
    # Drivers agree on text and integers; times are normalised to float so an
    # integral time stored by one driver encodes as the other reads it.
    if value is not None and column in _FLOATS:
        return float(value)
    return value


def notice_body(r: Row) -> dict[str, Any]:
    body = {c: _value(c, r[c]) for c in NOTICE_COLUMNS}
    body["content_sha256"] = sha256(r["content"])
    try:
        kind = r["kind"]
    except (KeyError, IndexError):  # a row read before the column existed (chained at 0004)
        kind = "notice"
    if kind != "notice":  # an operator alert; a notice's body is as it always was
        body["kind"] = kind
    return body


def delivery_body(r: Row) -> dict[str, Any]:
    return {c: r[c] for c in DELIVERY_COLUMNS}


def attempt_body(r: Row) -> dict[str, Any]:
    return {c: _value(c, r[c]) for c in ATTEMPT_COLUMNS}


def notice_accepted(r: Row, at: float) -> Event:
    return Event("notice", int(r["pk"]), {"notice": notice_body(r)}, at)


def delivery_created(r: Row, at: float) -> Event:
    return Event("delivery", int(r["id"]), {"delivery": delivery_body(r)}, at, int(r["id"]))


def attempt_recorded(attempt: Row, delivery: Row | None, at: float) -> Event:
    """An attempt and where it left its delivery (None: an attempt adopted without that)."""
    body: dict[str, Any] = {"attempt": attempt_body(attempt)}
    if delivery is not None:
        body["delivery"] = delivery_body(delivery)
    return Event(
        "attempt",
        int(attempt["id"]),
        body,
        at,
        int(attempt["delivery_id"]) if delivery is not None else None,
    )


def delivery_replayed(r: Row, at: float) -> Event:
    return Event("replay", int(r["id"]), {"delivery": delivery_body(r)}, at, int(r["id"]))


def delivery_adopted(r: Row, at: float) -> Event:
    """A delivery as it stood when its ledger began to be chained."""
    return Event("delivery", int(r["id"]), {"delivery": delivery_body(r)}, at, int(r["id"]))


def approval_request_body(r: Row) -> dict[str, Any]:
    return {c: r[c] for c in APPROVAL_REQUEST_COLUMNS}


def approval_body(r: Row) -> dict[str, Any]:
    return {c: _value(c, r[c]) for c in APPROVAL_COLUMNS}


def approval_requested(r: Row, at: float) -> Event:
    """A notice stored to await approval: its steps and the channels it was routed to."""
    return Event(
        "approval_request", int(r["notice_pk"]), {"approval_request": approval_request_body(r)}, at
    )


def approval_decided(r: Row, at: float) -> Event:
    """One decision on one step, with the digest the approver saw."""
    return Event("approval", int(r["id"]), {"approval": approval_body(r)}, at)
