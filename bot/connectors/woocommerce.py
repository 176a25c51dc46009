"""WooCommerce webhooks: order created, order completed (delivered), refunds.

WooCommerce signs the raw body (``X-WC-Webhook-Signature``, base64 HMAC-SHA256 with the
webhook's secret), numbers each delivery (``X-WC-Webhook-Delivery-ID``) and names the topic
(``X-WC-Webhook-Topic``). The body is the order exactly as the REST API (v3) returns it. When a
webhook is saved WooCommerce first posts an unsigned form body ``webhook_id=<n>`` (a ping): it
must get a 200 or the webhook is not activated; the route answers it without storing anything.
"""

from __future__ import annotations

import re
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

SIGNATURE = "X-WC-Webhook-Signature"
_PING = re.compile(rb"^webhook_id=\d{1,20}$")


def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
    """Return True for the ping WooCommerce sends when a webhook is created (``webhook_id=<n>``)."""
    return SIGNATURE not in headers and _PING.match(body.strip()) is not None


def verify(secret: str, body: bytes, headers: Mapping[str, str]) -> None:
    """Check WooCommerce's signature of the raw body (raises AuthError)."""
    check_b64_signature(secret, body, headers.get(SIGNATURE), SIGNATURE)


def identify(body: bytes, headers: Mapping[str, str]) -> tuple[str, str]:
    """Return the delivery id (the body's digest when absent) and the topic."""
    return (
        headers.get("X-WC-Webhook-Delivery-ID") or body_digest(body),
        headers.get("X-WC-Webhook-Topic", ""),
    )


def _gmt(order: dict[str, Any], name: str) -> Any:
    # ``*_gmt`` fields are UTC without an offset; the others are the shop's local time.
    return when(order.get(f"{name}_gmt"))


def _contact(order: dict[str, Any]) -> Contact:
    billing = order.get("billing") if isinstance(order.get("billing"), dict) else {}
    assert isinstance(billing, dict)
    customer = order.get("customer_id")
    locale = next(
        (
            m.get("value")
            for m in order.get("meta_data") or []
            if isinstance(m, dict) and m.get("key") in ("wpml_language", "_locale", "locale")
        ),
        None,
    )
    return Contact(
        customer_id=text(customer, 128) if customer not in (0, "0", None) else None,  # 0: a guest
        email=text(billing.get("email")),
        phone=text(billing.get("phone")),
        name=text(billing.get("first_name")),
        language=language(locale),
    )


def _order_events(topic: str, order: dict[str, Any], options: Options) -> list[Mapped]:
    order_id = need(text(order.get("id"), 128), "id")
    contact = _contact(order)
    items = tuple(
        name
        for item in order.get("line_items") or []
        if isinstance(item, dict) and (name := text(item.get("name")))
    )
    events: list[Mapped] = []
    status = order.get("status")
    if topic == "order.created":
        events.append(
            Mapped(
                event_id=f"woocommerce:order:{order_id}:placed",
                type="order.placed",
                occurred_at=need(_gmt(order, "date_created"), "date_created_gmt"),
                contact=contact,
                order_id=order_id,
                items=items,
            )
        )
    delivered = options.woocommerce_delivered_status
    if delivered != "none" and status == delivered:
        occurred = _gmt(order, "date_completed") or _gmt(order, "date_modified")
        events.append(
            Mapped(
                event_id=f"woocommerce:order:{order_id}:delivered",
                type="order.delivered",
                occurred_at=need(occurred, "date_completed_gmt"),
                contact=contact,
                order_id=order_id,
                items=items,
            )
        )
    # Each refund appears in the order's ``refunds`` list (id, reason, total) from then on; its
    # id makes the event once-only however many later updates repeat it.
    for refund in order.get("refunds") or []:
        if isinstance(refund, dict) and (refund_id := text(refund.get("id"), 128)):
            events.append(
                Mapped(
                    event_id=f"woocommerce:refund:{refund_id}",
                    type="order.refunded",
                    occurred_at=need(_gmt(order, "date_modified"), "date_modified_gmt"),
                    contact=contact,
                    order_id=order_id,
                )
            )
    if not events:
        raise Ignored(f"order {order_id} is {status!r}: nothing to record")
    return events


def map_delivery(topic: str, payload: dict[str, Any], options: Options) -> list[Mapped]:
    """Map a WooCommerce webhook body to business events (raises Ignored/Unmappable)."""
    if topic in ("order.created", "order.updated"):
        return _order_events(topic, payload, options)
    raise Unmappable(f"unknown topic {topic!r} (known: order.created, order.updated)")


CONNECTOR = Connector(
    name="woocommerce",
    title="WooCommerce",
    setting="woocommerce_secret",
    verify=verify,
    identify=identify,
    map=map_delivery,
    steps=(
        "WooCommerce → Settings → Advanced → Webhooks → Add webhook: status Active, API version v3",
        "one webhook with topic 'Order created' and one with 'Order updated', both to the URL below",
        "put the same secret in each webhook's Secret field and in CXBOT_WOOCOMMERCE_SECRET",
        "if the shop marks orders completed when it ships them, set CXBOT_WOOCOMMERCE_DELIVERED_STATUS=none "
        "and connect a tracking service (AfterShip) for deliveries",
    ),
)
