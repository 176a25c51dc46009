"""A generic helpdesk trigger (Zendesk, Freshdesk…): a ticket solved is a ticket closed.

Helpdesks let an automation POST a JSON body written from placeholders. cxbot reads this shape
(fields it does not know are ignored)::

    {"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}",
     "updated_at": "{{ticket.updated_at_with_timestamp}}",
     "requester": {"email": "{{ticket.requester.email}}", "phone": "{{ticket.requester.phone}}",
                   "external_id": "{{ticket.requester.external_id}}",
                   "name": "{{ticket.requester.first_name}}", "locale": "{{ticket.requester.locale}}"}}

Authentication is a shared secret: header ``X-Cxbot-Token: <secret>`` or
``Authorization: Bearer <secret>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.connectors.base import (
    Connector,
    Contact,
    Ignored,
    Mapped,
    Options,
    Unmappable,
    body_digest,
    check_token,
    language,
    need,
    text,
    when,
)

SHARED_SECRET_HEADER = "X-Cxbot-Token"  # noqa: S105 - a header name, not a secret
_CLOSED = {"solved", "resolved", "closed"}
_OPENED = {"new", "open"}


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check the shared secret (raises AuthError)."""
    bearer = headers.get("Authorization", "")
    if SHARED_SECRET_HEADER not in headers and bearer.lower().startswith("bearer "):
        check_token(secret, bearer[7:], "Authorization")
        return
    check_token(secret, headers.get(SHARED_SECRET_HEADER), SHARED_SECRET_HEADER)


def identify(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """Return the helpdesk's invocation id when it sends one (else the body's digest); topic 'ticket'."""
    delivery = headers.get("X-Zendesk-Webhook-Invocation-Id") or headers.get("X-Request-Id")
    return delivery or body_digest(body), "ticket"


def map_delivery(topic: str, payload: dict[str, Any], options: Options) -> list[Mapped]:
    """Map a ticket's status change to ``ticket.opened|reopened|closed`` (raises Ignored/Unmappable)."""
    ticket = need(text(payload.get("ticket_id"), 100), "ticket_id")
    status = (text(payload.get("status")) or "").lower()
    if status in _CLOSED:
        kind = "ticket.closed"
    elif status in _OPENED:
        kind = "ticket.opened"
    elif status == "reopened":
        kind = "ticket.reopened"
    elif status:
        raise Ignored(f"ticket status {status!r} changes nothing")
    else:
        raise Unmappable("missing status")
    requester = payload.get("requester") if isinstance(payload.get("requester"), dict) else {}
    assert isinstance(requester, dict)
    contact = Contact(
        customer_id=text(requester.get("external_id"), 128),
        email=text(requester.get("email")),
        phone=text(requester.get("phone")),
        name=text(requester.get("name")),
        language=language(requester.get("locale")),
    )
    if not (contact.customer_id or contact.email or contact.phone):
        raise Unmappable("the requester has no external_id, e-mail or phone")
    occurred = need(when(payload.get("updated_at")), "updated_at")
    return [
        Mapped(
            event_id=f"helpdesk:{ticket}:{kind.split('.')[1]}:{int(occurred.timestamp())}",
            type=kind,
            occurred_at=occurred,
            contact=contact,
            ticket_id=f"helpdesk-{ticket}",
            order_id=text(payload.get("order_id"), 128),
        )
    ]


CONNECTOR = Connector(
    name="helpdesk",
    title="Helpdesk trigger (Zendesk, Freshdesk…)",
    setting="helpdesk_secret",
    verify=verify,
    identify=identify,
    map=map_delivery,
    steps=(
        "Zendesk: Admin Center → Apps and integrations → Webhooks → Create webhook (POST, JSON) to the URL "
        "below, authentication Bearer token = CXBOT_HELPDESK_SECRET; then a trigger 'Ticket is Solved' "
        "that notifies it with the body in README",
        "Freshdesk: Admin → Automations → Ticket updates → 'Status is changed to Resolved' → Trigger "
        "webhook (POST, JSON, custom header X-Cxbot-Token) with the same body",
    ),
)
