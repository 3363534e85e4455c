"""Requests beside an HTTP channel's own: look a delivery up, update it, retract it.

A CMS does not honour ``Idempotency-Key`` as a rule, and a correction must
replace what the original published, not sit beside it. So an HTTP channel may
name three more requests, each a method, a URL template, an optional body
template and where the receipt is in the answer:

``lookup``   asked when the last attempt is in doubt: does the site already
             have this delivery (found by something we sent and it stores, e.g.
             a slug derived from the idempotency key)?
``update``   sent instead of the channel's own request when the channel already
             carries an earlier version of the notice
``retract``  sent for a termination of a notice whose earlier version the
             channel carries, and for a withdrawal (``syndicate withdraw``); its
             answer need carry no id unless the request names where it is

A channel with ``expiry: true`` is sent, when a notice's ``valid_until`` has
come, its ``retract`` request (or, without one, its ``update``, whose template
sees ``purpose`` == "expiry" and can mark the post expired).

Templates see ``notice``, ``html``, ``key`` (the delivery's idempotency key,
also as ``idempotency_key``), ``purpose`` (publish, withdrawal, expiry),
``withdrawal`` (its ``reason`` and ``at``, for a withdrawal) and ``previous``:
what the channel carries of the notice (``previous.version``,
``previous.remote_id``, ``previous.remote_url``), or None.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PlainValidator

from syndicate.adapter import DeliveryContext, Options, Receipt
from syndicate.errors import PermanentDeliveryError, TransientDeliveryError
from syndicate.notice import Nature, Notice
from syndicate.rendering import Template, template_validator
from syndicate.store.base import DeliveryState, Purpose

from ._http import HttpPushAdapter, lookup, server_message

TextTemplate = Annotated[Template, PlainValidator(template_validator(html=False))]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class ChannelRequest(Options):
    """One request beside the channel's own: method, URL, body, where the receipt is."""

    method: Method = "POST"
    url: TextTemplate = Field(description="URL template, e.g. …/posts/{{ previous.remote_id }}")
    template: TextTemplate | None = Field(
        default=None,
        description="body as JSON text (use |tojson); for update, the channel's own body if unset; "
        "for retract and lookup, no body if unset",
    )
    remote_id: str | None = Field(
        default=None, description="dotted path of the id in the answer; the channel's if unset"
    )
    remote_url: str | None = Field(
        default=None, description="dotted path of the URL in the answer; the channel's if unset"
    )


class LookupRequest(ChannelRequest):
    """How to ask the site whether it already has a delivery (a 404 or no id: it has not)."""

    method: Method = "GET"


Action = Literal["create", "update", "retract"]


def choose(
    notice: Notice,
    ctx: DeliveryContext,
    update: ChannelRequest | None,
    retract: ChannelRequest | None,
) -> Action:
    """Create, or update or retract in place what an earlier version published here.

    A withdrawal retracts; an expiry retracts, or updates where no retract is set.
    """
    previous = ctx.previous
    follow_up = ctx.purpose is not Purpose.publish
    if follow_up and previous is None:
        raise PermanentDeliveryError(
            f"nothing of {notice.id} is on this channel: no {ctx.purpose.value} to send"
        )
    if ctx.purpose is Purpose.withdrawal and retract is None:
        raise PermanentDeliveryError("no retract request is configured for a withdrawal")
    if ctx.purpose is Purpose.expiry and retract is None and update is None:
        raise PermanentDeliveryError("no retract or update request is configured for an expiry")
    if previous is None or (update is None and retract is None):
        return "create"
    if previous.state is not DeliveryState.delivered:
        raise TransientDeliveryError(
            f"version {previous.version} of {notice.id} is not delivered on this channel yet; "
            f"version {notice.version} follows it"
        )
    if previous.remote_id is None:
        raise PermanentDeliveryError(
            f"version {previous.version} of {notice.id} was delivered without a remote id: "
            "there is nothing to update or retract in place"
        )
    if ctx.purpose is not Purpose.publish and retract is not None:
        return "retract"
    if notice.nature is Nature.termination and retract is not None:
        return "retract"
    return "update" if update is not None else "create"


def context(notice: Notice, ctx: DeliveryContext, html: str | None) -> dict[str, Any]:
    """What every template of the channel sees beside ``notice``."""
    return {
        "html": html,
        "key": ctx.idempotency_key,
        "idempotency_key": ctx.idempotency_key,
        "previous": ctx.previous,
        "purpose": ctx.purpose.value,
        "withdrawal": ctx.withdrawal,
    }


def render_url(request: ChannelRequest, notice: Notice, extra: dict[str, Any]) -> str:
    url = request.url.render(notice, **extra).strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PermanentDeliveryError(f"the url template gave {url[:200]!r}, not an http(s) URL")
    return url


def render_json(template: Template, notice: Notice, extra: dict[str, Any]) -> tuple[str, Any]:
    """A body template's text and the JSON document it is."""
    text = template.render(notice, **extra)
    try:
        return text, json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise PermanentDeliveryError(f"template output is not valid JSON: {exc}") from None


def receipt_paths(
    request: ChannelRequest,
    channel_id: str | None,
    channel_url: str | None,
    action: Action = "update",
) -> tuple[str | None, str | None]:
    """Where the receipt is in the answer to ``request``: its own paths, else the channel's.

    A retraction's answer is looked into only where its request says: a site
    that answers a DELETE with 204 and nothing else has taken it down.
    """
    if action == "retract":
        return (request.remote_id, request.remote_url)
    return (request.remote_id or channel_id, request.remote_url or channel_url)


def purposes(
    update: ChannelRequest | None, retract: ChannelRequest | None, expiry: bool
) -> frozenset[Purpose]:
    """What a channel with these requests handles: withdrawals with a retract request,
    expiries where ``expiry`` is set."""
    found = {Purpose.publish}
    if retract is not None:
        found.add(Purpose.withdrawal)
    if expiry and (retract is not None or update is not None):
        found.add(Purpose.expiry)
    return frozenset(found)


def check_expiry(
    update: ChannelRequest | None, retract: ChannelRequest | None, expiry: bool
) -> None:
    """``expiry: true`` needs a request to send."""
    if expiry and update is None and retract is None:
        raise ValueError("expiry: true needs a retract or an update request to send")


async def look_up(
    adapter: HttpPushAdapter[Any],
    request: ChannelRequest,
    notice: Notice,
    extra: dict[str, Any],
) -> Receipt | None:
    """Ask the site for the delivery: its receipt if it has it (an id in the answer), else None.

    A 404, or an answer without an id at the path, means the site does not have it.
    """
    url = render_url(request, notice, extra)
    body = b""
    headers = {"Accept": "application/json"}
    if request.template is not None:
        body = render_json(request.template, notice, extra)[0].encode("utf-8")
        headers["Content-Type"] = "application/json; charset=utf-8"
    response, answer = await adapter._exchange(request.method, url, body, headers)
    if response.status_code == 404:
        return None
    if not 200 <= response.status_code < 300:
        adapter._classify(response, answer)  # raises: the lookup itself failed
    try:
        document = json.loads(answer)
    except ValueError:
        raise TransientDeliveryError(
            f"lookup {url}: the answer is not JSON: {adapter._redact(server_message(answer))}",
            status=str(response.status_code),
        ) from None
    id_path, url_path = receipt_paths(
        request, adapter.options.remote_id, adapter.options.remote_url
    )
    remote_id = lookup(document, id_path or "id")
    if remote_id is None:
        return None
    return Receipt(
        remote_id=remote_id,
        url=lookup(document, url_path) if url_path else None,
        # Not an HTTP status: the ledger shows this delivery was found, not sent.
        status="found",
        detail=f"found by lookup (HTTP {response.status_code})",
    )
