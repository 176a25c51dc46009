"""Chatwoot webhooks: a conversation resolved is a support ticket closed (→ the support CES).

Chatwoot (4.x) signs each delivery: ``X-Chatwoot-Signature: sha256=<hex HMAC-SHA256 of
"<X-Chatwoot-Timestamp>." + raw body>`` with the webhook's secret. Older versions sign nothing:
then the same secret goes in the URL (``?token=<secret>``) or an ``X-Cxbot-Token`` header.
The conversation's contact is matched to the customer by its identifier (the shop's customer
id, set by the site's widget), e-mail or phone.
"""

from __future__ import annotations

import hashlib
import hmac
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
    load_json,
    need,
    text,
    when,
)
from flows.errors import AuthError

SIGNATURE = "X-Chatwoot-Signature"
TIMESTAMP = "X-Chatwoot-Timestamp"
SHARED_SECRET_HEADER = "X-Cxbot-Token"  # noqa: S105 - a header name, not a secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return Chatwoot's signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check Chatwoot's signature, or the shared token when the sender signs nothing.

    Raises:
        AuthError: when neither is present and right.
    """
    given = headers.get(SIGNATURE)
    if given:
        timestamp = headers.get(TIMESTAMP, "")
        if not hmac.compare_digest(sign(secret, timestamp, body).encode(), given.strip().encode()):
            raise AuthError(f"{SIGNATURE} does not match the body")
        return
    if SHARED_SECRET_HEADER not in headers:
        raise AuthError(f"missing {SIGNATURE} header (or ?token=<secret> for unsigned Chatwoot versions)")
    check_token(secret, headers.get(SHARED_SECRET_HEADER), SHARED_SECRET_HEADER)


def identify(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """Return Chatwoot's delivery id (the body's digest when absent) and the event name."""
    try:
        topic = text(load_json(body).get("event"), 100) or ""
    except Unmappable:
        topic = ""
    return headers.get("X-Chatwoot-Delivery") or body_digest(body), topic


def map_delivery(topic: str, payload: dict[str, Any], options: Options) -> list[Mapped]:
    """Map a resolved conversation to ``ticket.closed`` (raises Ignored/Unmappable)."""
    if topic not in ("conversation_status_changed", "conversation_resolved"):
        raise Unmappable(f"unknown event {topic!r} (known: conversation_status_changed)")
    status = payload.get("status")
    if topic == "conversation_status_changed" and status != "resolved":
        raise Ignored(f"conversation status is {status!r}, not resolved")
    conversation = need(text(payload.get("id"), 100), "id")
    meta = payload.get("meta") if isinstance(payload.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    sender = meta.get("sender") if isinstance(meta.get("sender"), dict) else {}
    assert isinstance(sender, dict)
    contact = Contact(
        customer_id=text(sender.get("identifier"), 128),
        email=text(sender.get("email")),
        phone=text(sender.get("phone_number")),
        name=text(sender.get("name")),
        language=language((sender.get("additional_attributes") or {}).get("browser_language")),
    )
    if not (contact.customer_id or contact.email or contact.phone):
        raise Unmappable("the conversation's contact has no identifier, e-mail or phone")
    occurred = when(payload.get("timestamp")) or when(payload.get("updated_at"))
    occurred = need(occurred, "timestamp")
    return [
        Mapped(
            event_id=f"chatwoot:{conversation}:resolved:{int(occurred.timestamp())}",
            type="ticket.closed",
            occurred_at=occurred,
            contact=contact,
            ticket_id=f"chatwoot-{conversation}",
        )
    ]


CONNECTOR = Connector(
    name="chatwoot",
    title="Chatwoot",
    setting="chatwoot_secret",
    verify=verify,
    identify=identify,
    map=map_delivery,
    steps=(
        "Chatwoot → Settings → Integrations → Webhooks → Add new webhook with the URL below",
        "tick 'Conversation Status Changed'; copy the webhook's secret into CXBOT_CHATWOOT_SECRET",
        "Chatwoot versions without webhook secrets: append ?token=<CXBOT_CHATWOOT_SECRET> to the URL",
        "set the widget's contact identifier to the shop's customer id (or let e-mail/phone match)",
    ),
)
