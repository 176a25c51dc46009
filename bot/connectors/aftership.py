"""AfterShip-style tracking webhooks: a parcel tagged ``Delivered`` is an order delivered.

For shops whose platform never learns about delivery. AfterShip signs the raw body
(``aftership-hmac-sha256``, base64 HMAC-SHA256 with the webhook secret) and gives each event a
UUID (``event_id`` in the body). The order is found by ``order_id``/``order_number`` (what the
shop put on the tracking) or, failing that, the customer by the tracking's e-mails.
"""

from __future__ import annotations

import json
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
    check_b64_signature,
    need,
    text,
    when,
)

SIGNATURE = "aftership-hmac-sha256"


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check AfterShip's signature of the raw body (raises AuthError)."""
    check_b64_signature(secret, body, headers.get(SIGNATURE), SIGNATURE)


def identify(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """Return the body's ``event_id`` and ``event`` (after the signature was checked)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body_digest(body), ""
    if not isinstance(payload, dict):
        return body_digest(body), ""
    return text(payload.get("event_id")) or body_digest(body), text(payload.get("event"), 100) or ""


def map_delivery(topic: str, payload: dict[str, Any], options: Options) -> list[Mapped]:
    """Map a tracking update tagged Delivered to ``order.delivered`` (raises Ignored/Unmappable)."""
    if topic != "tracking_update":
        raise Unmappable(f"unknown event {topic!r} (known: tracking_update)")
    msg = payload.get("msg")
    if not isinstance(msg, dict):
        raise Unmappable("missing msg")
    if msg.get("tag") != "Delivered":
        raise Ignored(f"tag is {msg.get('tag')!r}, not Delivered")
    tracking = need(text(msg.get("id"), 128) or text(msg.get("tracking_number"), 128), "msg.id")
    order_id = text(msg.get("order_id"), 128) or text(msg.get("order_number"), 128)
    emails = [e for e in msg.get("emails") or [] if isinstance(e, str)]
    phones = [p for p in msg.get("smses") or [] if isinstance(p, str)]
    if order_id is None and not emails and not phones:
        raise Unmappable("the tracking names no order (order_id/order_number) and no e-mail or phone")
    # ``shipment_delivery_date`` is the carrier's local time, with its offset in current
    # versions; older webhook versions give none: read as UTC it is off by hours at most,
    # which the journey's day-long delays absorb.
    occurred = when(msg.get("shipment_delivery_date")) or when(payload.get("ts"))
    return [
        Mapped(
            event_id=f"aftership:{tracking}:delivered",
            type="order.delivered",
            occurred_at=need(occurred, "msg.shipment_delivery_date or ts"),
            contact=Contact(
                email=emails[0] if emails else None,
                phone=phones[0] if phones else None,
                name=text(msg.get("customer_name")),
            ),
            order_id=order_id or f"tracking-{text(msg.get('tracking_number'), 100) or tracking}",
        )
    ]


CONNECTOR = Connector(
    name="aftership",
    title="AfterShip (tracking)",
    setting="aftership_secret",
    verify=verify,
    identify=identify,
    map=map_delivery,
    steps=(
        "AfterShip → Settings → Webhooks: add the URL below, select the 'Delivered' update",
        "copy the webhook secret into CXBOT_AFTERSHIP_SECRET",
        "put the shop's order id in each tracking's order id (the shop integrations do it)",
    ),
)
