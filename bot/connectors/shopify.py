"""Shopify webhooks: orders placed, fulfillments delivered, refunds.

Shopify signs the raw body: ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 with the app's (or
the shop's notification) secret; ``X-Shopify-Webhook-Id`` is the same for every retry of one
delivery; ``X-Shopify-Topic`` names what happened.
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
    check_b64_signature,
    language,
    need,
    text,
    when,
)

SIGNATURE = "X-Shopify-Hmac-Sha256"


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check Shopify's signature of the raw body (raises AuthError)."""
    check_b64_signature(secret, body, headers.get(SIGNATURE), SIGNATURE)


def identify(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """Return the webhook id (the body's digest when absent) and the topic."""
    return (
        headers.get("X-Shopify-Webhook-Id") or body_digest(body),
        headers.get("X-Shopify-Topic", ""),
    )


def _contact(order: dict[str, Any]) -> Contact:
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    assert isinstance(customer, dict)
    address = order.get("shipping_address") or order.get("billing_address") or {}
    email = text(order.get("email")) or text(order.get("contact_email")) or text(customer.get("email"))
    phone = text(order.get("phone")) or text(customer.get("phone"))
    if phone is None and isinstance(address, dict):
        phone = text(address.get("phone"))
    return Contact(
        customer_id=text(customer.get("id"), 128),
        email=email,
        phone=phone,
        name=text(customer.get("first_name")) or (text(address.get("first_name")) if address else None),
        language=language(order.get("customer_locale")),
    )


def _order_placed(order: dict[str, Any]) -> list[Mapped]:
    order_id = need(text(order.get("id"), 128), "id")
    items = tuple(
        name
        for item in order.get("line_items") or []
        if isinstance(item, dict) and (name := text(item.get("title")) or text(item.get("name")))
    )
    return [
        Mapped(
            event_id=f"shopify:order:{order_id}:placed",
            type="order.placed",
            occurred_at=need(when(order.get("processed_at")) or when(order.get("created_at")), "created_at"),
            contact=_contact(order),
            order_id=order_id,
            items=items,
        )
    ]


def _fulfillment(fulfillment: dict[str, Any]) -> list[Mapped]:
    status = fulfillment.get("shipment_status")
    if status != "delivered":
        raise Ignored(f"shipment_status is {status!r}, not delivered")
    order_id = need(text(fulfillment.get("order_id"), 128), "order_id")
    fulfillment_id = need(text(fulfillment.get("id"), 128), "id")
    destination = fulfillment.get("destination") if isinstance(fulfillment.get("destination"), dict) else {}
    assert isinstance(destination, dict)
    # The fulfillment carries no delivery time of its own: its last change is when Shopify
    # learnt of the delivery (from the carrier's tracking event).
    occurred = when(fulfillment.get("updated_at")) or when(fulfillment.get("created_at"))
    return [
        Mapped(
            event_id=f"shopify:fulfillment:{fulfillment_id}:delivered",
            type="order.delivered",
            occurred_at=need(occurred, "updated_at"),
            contact=Contact(
                email=text(fulfillment.get("email")),
                phone=text(destination.get("phone")),
                name=text(destination.get("first_name")),
            ),
            order_id=order_id,
        )
    ]


def _refund(refund: dict[str, Any]) -> list[Mapped]:
    refund_id = need(text(refund.get("id"), 128), "id")
    return [
        Mapped(
            event_id=f"shopify:refund:{refund_id}",
            type="order.refunded",
            occurred_at=need(when(refund.get("created_at")), "created_at"),
            contact=Contact(),
            order_id=need(text(refund.get("order_id"), 128), "order_id"),
        )
    ]


def map_delivery(topic: str, payload: dict[str, Any], options: Options) -> list[Mapped]:
    """Map a Shopify webhook body to business events (raises Ignored/Unmappable)."""
    if topic == "orders/create":
        return _order_placed(payload)
    if topic in ("fulfillments/create", "fulfillments/update"):
        return _fulfillment(payload)
    if topic == "refunds/create":
        return _refund(payload)
    raise Unmappable(
        f"unknown topic {topic!r} (known: orders/create, fulfillments/create|update, refunds/create)"
    )


CONNECTOR = Connector(
    name="shopify",
    title="Shopify",
    setting="shopify_secret",
    verify=verify,
    identify=identify,
    map=map_delivery,
    steps=(
        "Shopify admin → Settings → Notifications → Webhooks → Create webhook (JSON, latest API version)",
        "add the events 'Order creation', 'Fulfillment update' and 'Refund create' with the URL below",
        "copy the signing secret shown under the list into CXBOT_SHOPIFY_SECRET",
    ),
)
