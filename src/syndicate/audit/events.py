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
WITHDRAWAL_COLUMNS = ("id", "notice_id", "version", "reason", "at", "by")
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
    body = {c: r[c] for c in DELIVERY_COLUMNS}
    # Publications were chained before deliveries had a purpose: theirs stays implied.
    purpose = _purpose(r)
    if purpose != "publish":
        body["purpose"] = purpose
    return body


def _purpose(r: Row) -> Any:
    try:
        return r["purpose"]
    except (KeyError, IndexError):  # a ledger chained before deliveries had a purpose
        return "publish"


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


def delivery_set_aside(r: Row, at: float) -> Event:
    """A delivery ended without being sent: superseded by a newer version, or cancelled."""
    return Event(str(r["state"]), int(r["id"]), {"delivery": delivery_body(r)}, at, int(r["id"]))


def withdrawal_body(r: Row) -> dict[str, Any]:
    return {c: _value(c, r[c]) for c in WITHDRAWAL_COLUMNS}


def notice_withdrawn(r: Row, at: float) -> Event:
    return Event("withdrawal", int(r["id"]), {"withdrawal": withdrawal_body(r)}, at)


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


# --- the ledger's other facts -------------------------------------------------------------
# A warning and an operation are appended once, like an attempt: keyed by their id. A token
# and a pause change state (created, revoked; paused, resumed): each change is a link
# numbered within its kind, and the newest link of a token or channel is its state.

WARNING_COLUMNS = ("id", "notice_pk", "rule", "message")
OPERATION_COLUMNS = ("id", "at", "actor", "action", "subject")
TOKEN_COLUMNS = ("id", "name", "scopes", "secret_sha256", "created_at", "revoked_at")
PAUSE_COLUMNS = ("channel", "paused_at", "paused_by")
_FACT_FLOATS = {"at", "created_at", "revoked_at", "paused_at"}


def _fact(columns: tuple[str, ...], r: Row) -> dict[str, Any]:
    return {c: float(r[c]) if c in _FACT_FLOATS and r[c] is not None else r[c] for c in columns}


def warning_body(r: Row) -> dict[str, Any]:
    return _fact(WARNING_COLUMNS, r)


def operation_body(r: Row) -> dict[str, Any]:
    return _fact(OPERATION_COLUMNS, r)


def token_body(r: Row) -> dict[str, Any]:
    return _fact(TOKEN_COLUMNS, r)


def pause_body(r: Row) -> dict[str, Any]:
    return _fact(PAUSE_COLUMNS, r)


def warning_recorded(r: Row, at: float) -> Event:
    """A statutory rule in warn mode that a notice broke, recorded as it was accepted."""
    return Event("warning", int(r["id"]), {"warning": warning_body(r)}, at)


def operation_recorded(r: Row, at: float) -> Event:
    """A write made through the API (enqueue, replay, pause, resume) and who made it."""
    return Event("operation", int(r["id"]), {"operation": operation_body(r)}, at)


def token_changed(r: Row, ref: int, at: float) -> Event:
    """An API token as it stands after being created or revoked (its secret's hash only)."""
    return Event("token", ref, {"token": token_body(r)}, at)


def pause_changed(channel: str, row: Row | None, ref: int, at: float) -> Event:
    """A channel paused (``row``: the pause) or resumed (None)."""
    body = pause_body(row) if row is not None else None
    return Event("pause", ref, {"channel": channel, "pause": body}, at)
