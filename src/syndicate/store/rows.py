"""Rows read by column name, and parameters by name: the same for every backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ..approval import Approval, Decision
from ..errors import NoticeConflict, NoticeError, Problem
from .base import (
    AttemptRecord,
    AttemptRow,
    CircuitRow,
    Claim,
    DeliveryRow,
    DeliveryState,
    Next,
    NoticeRecord,
    NoticeRow,
    OperationRow,
    Outcome,
    PauseRow,
    Purpose,
    TokenRecord,
    Withdrawal,
    YearCounts,
)


class Row(Protocol):
    """A result row as any driver gives it (sqlite3.Row, a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


def conflict(notice: NoticeRecord, digest: str) -> NoticeConflict:
    return NoticeConflict(
        [
            Problem(
                "",
                f"notice {notice.id} version {notice.version} was accepted before "
                f"with other content (digest {digest[:12]}…, now "
                f"{notice.digest[:12]}…); send a new version instead",
            )
        ]
    )


def kind_of(notice: Row) -> str:
    """A notice row's kind: ``notice``, or ``alert`` for an operator alert."""
    try:
        return str(notice["kind"])
    except (KeyError, IndexError):  # a row from a query that does not select it
        return "notice"


def notice_params(notice: NoticeRecord) -> dict[str, Any]:
    return {
        "id": notice.id,
        "version": notice.version,
        "category": notice.category,
        "notice_type": notice.notice_type,
        "region_code": notice.region_code,
        "title": notice.title,
        "digest": notice.digest,
        "content": notice.content,
        "publish_at": notice.publish_at,
        "body_sanitized": int(notice.body_sanitized),
        "kind": notice.kind,
    }


def claim(r: Row, expires: float) -> Claim:
    return Claim(
        delivery_id=r["delivery_id"],
        notice_id=r["notice_id"],
        notice_version=r["notice_version"],
        channel=r["channel"],
        idempotency_key=r["idempotency_key"],
        fence=r["fence"],
        notice_digest=r["digest"],
        attempts=r["attempts"],
        tries=r["tries"],
        first_try_at=r["cycle_started_at"],
        lease_expires_at=expires,
        in_doubt=bool(r["in_doubt"]),
        accepted_at=r["accepted_at"],
        kind=r["kind"],
        purpose=Purpose(r["purpose"]),
    )


def finish_params(claim: Claim, a: AttemptRecord, next_: Next) -> dict[str, Any]:
    error = None if a.outcome is Outcome.delivered else f"{a.error_class}: {a.error_message}"
    return {
        "state": next_.state.value,
        "next_at": next_.at if next_.at is not None else a.finished_at,
        "started_at": a.started_at,
        "remote_id": a.remote_id,
        "remote_url": a.remote_url,
        "last_error": error,
        "finished_at": a.finished_at,
        "delivery_id": claim.delivery_id,
        "fence": claim.fence,
    }


def attempt_params(claim: Claim, worker: str, a: AttemptRecord, number: int) -> dict[str, Any]:
    return {
        "delivery_id": claim.delivery_id,
        "number": number,
        "worker": worker,
        "fence": claim.fence,
        "started_at": a.started_at,
        "finished_at": a.finished_at,
        "outcome": a.outcome.value,
        "error_class": a.error_class,
        "error_message": a.error_message,
        "status": a.status,
        "remote_id": a.remote_id,
        "remote_url": a.remote_url,
        "payload_sha256": a.payload_sha256,
    }


def delivery_row(r: Row) -> DeliveryRow:
    state = DeliveryState(r["state"])
    waiting = state in (DeliveryState.pending, DeliveryState.in_flight)
    return DeliveryRow(
        id=r["id"],
        notice_id=r["notice_id"],
        notice_version=r["notice_version"],
        channel=r["channel"],
        state=state,
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"] if waiting else None,
        idempotency_key=r["idempotency_key"],
        remote_id=r["remote_id"],
        remote_url=r["remote_url"],
        last_error=r["last_error"],
        updated_at=r["updated_at"],
        title=r["title"],
        category=r["category"],
        purpose=Purpose(r["purpose"]),
    )


def attempt_row(r: Row) -> AttemptRow:
    fields = {k: r[k] for k in AttemptRow.__dataclass_fields__}
    return AttemptRow(**{**fields, "outcome": Outcome(r["outcome"])})


def year_counts(rows: Sequence[Row]) -> YearCounts:
    return YearCounts(
        notices={r["category"]: r["routed"] for r in rows if r["channel"] == ""},
        routed={(r["category"], r["channel"]): r["routed"] for r in rows if r["channel"] != ""},
        delivered={
            (r["category"], r["channel"]): r["delivered"] for r in rows if r["channel"] != ""
        },
    )


def notice_record(r: Row) -> NoticeRecord:
    return NoticeRecord(
        id=r["id"],
        version=r["version"],
        category=r["category"],
        notice_type=r["notice_type"],
        region_code=r["region_code"],
        title=r["title"],
        digest=r["digest"],
        content=r["content"],
        accepted_at=r["accepted_at"],
        publish_at=r["publish_at"],
        body_sanitized=bool(r["body_sanitized"]),
    )


def circuit_row(r: Row) -> CircuitRow:
    return CircuitRow(
        channel=r["channel"],
        state=r["state"],
        failures=r["failures"],
        reopens_at=r["reopens_at"],
        worker=r["worker"],
        updated_at=r["updated_at"],
        probe_until=r["probe_until"],
        opened_at=r["opened_at"],
    )


def circuit_params(c: CircuitRow) -> dict[str, Any]:
    return {
        "channel": c.channel,
        "state": c.state,
        "failures": c.failures,
        "reopens_at": c.reopens_at,
        "worker": c.worker,
        "updated_at": c.updated_at,
        "probe_until": c.probe_until,
        "opened_at": c.opened_at,
    }


def token_params(t: TokenRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "scopes": " ".join(t.scopes),
        "secret_sha256": t.secret_sha256,
        "created_at": t.created_at,
    }


def token_record(r: Row) -> TokenRecord:
    return TokenRecord(
        id=r["id"],
        name=r["name"],
        scopes=tuple(r["scopes"].split()),
        secret_sha256=r["secret_sha256"],
        created_at=r["created_at"],
        revoked_at=r["revoked_at"],
    )


def operation_row(r: Row) -> OperationRow:
    return OperationRow(
        id=r["id"], at=r["at"], actor=r["actor"], action=r["action"], subject=r["subject"]
    )


def notice_row(r: Row) -> NoticeRow:
    fields = {k: r[k] for k in NoticeRow.__dataclass_fields__}
    return NoticeRow(**{**fields, "withdrawn": bool(r["withdrawn"])})


def withdrawn(notice: NoticeRecord, w: Row) -> NoticeError:
    return NoticeError(
        [
            Problem(
                "",
                f"notice {notice.id} was withdrawn (version {w['version']}): "
                "no further version is accepted",
            )
        ]
    )


def stale_version(notice: NoticeRecord, latest: int) -> NoticeError:
    return NoticeError(
        [
            Problem(
                "version",
                f"notice {notice.id} is at version {latest}; version {notice.version} is "
                f"older — a new version must be {latest + 1} or higher",
            )
        ]
    )


def withdrawal(r: Row) -> Withdrawal:
    return Withdrawal(
        notice_id=r["notice_id"],
        version=r["version"],
        reason=r["reason"],
        at=r["at"],
        by=r["by"],
    )


def pause_row(r: Row) -> PauseRow:
    return PauseRow(channel=r["channel"], paused_at=r["paused_at"], paused_by=r["paused_by"])


def approval(r: Row) -> Approval:
    return Approval(
        id=int(r["id"]),
        position=int(r["position"]),
        step=r["step"],
        decision=Decision(r["decision"]),
        approver=r["approver"],
        digest=r["digest"],
        comment=r["comment"],
        via=r["via"],
        at=float(r["at"]),
    )
