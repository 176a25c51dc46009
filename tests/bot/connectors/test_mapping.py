"""Each platform's real payload samples map to cxbot's business events (pure functions, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.connectors import aftership, chatwoot, helpdesk_generic, shopify, woocommerce
from bot.connectors.base import Ignored, Options, Unmappable
from tests.bot.connectors.conftest import sample

OPTIONS = Options()


def test_shopify_order_is_placed_with_items_name_and_contact() -> None:
    """Shopify's orders/create body becomes order.placed with its lines, first name and e-mail."""
    (event,) = shopify.map_delivery("orders/create", sample("shopify_orders_create.json"), OPTIONS)
    assert (event.type, event.order_id, event.event_id) == (
        "order.placed",
        "450789469",
        "shopify:order:450789469:placed",
    )
    assert event.items == ("IPod Nano - 8gb", "IPod Nano - 8gb", "IPod Nano - 8gb")
    assert event.contact.customer_id == "207119551"
    assert (event.contact.name, event.contact.email) == ("Bob", "bob.norman@hostmail.com")
    assert event.contact.phone == "555-625-1199"
    assert event.occurred_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert event.contact.language is None  # the sample has no customer_locale


def test_shopify_customer_locale_sets_the_language() -> None:
    """customer_locale it-IT (or en-US) gives the customer's language; other locales give none."""
    order = sample("shopify_orders_create.json")
    for locale, expected in (("it-IT", "it"), ("en-US", "en"), ("fr", None)):
        order["customer_locale"] = locale
        (event,) = shopify.map_delivery("orders/create", order, OPTIONS)
        assert event.contact.language == expected


def test_shopify_fulfillment_delivered_only() -> None:
    """A fulfillment is an order.delivered only once shipment_status is delivered."""
    fulfillment = sample("shopify_fulfillment.json")
    with pytest.raises(Ignored, match="not delivered"):
        shopify.map_delivery("fulfillments/update", fulfillment, OPTIONS)
    fulfillment["shipment_status"] = "delivered"
    (event,) = shopify.map_delivery("fulfillments/update", fulfillment, OPTIONS)
    assert (event.type, event.order_id) == ("order.delivered", "450789469")
    assert event.event_id == "shopify:fulfillment:255858046:delivered"  # same for create and update
    assert event.occurred_at == datetime(2013, 11, 1, 20, 6, 8, tzinfo=UTC)


def test_shopify_refund_and_unknown_topic() -> None:
    """refunds/create becomes order.refunded; an unknown topic is unmappable, naming the known ones."""
    (event,) = shopify.map_delivery("refunds/create", sample("shopify_refunds_create.json"), OPTIONS)
    assert (event.type, event.order_id, event.event_id) == (
        "order.refunded",
        "450789469",
        "shopify:refund:509562969",
    )
    with pytest.raises(Unmappable, match="products/update"):
        shopify.map_delivery("products/update", {}, OPTIONS)


def test_woocommerce_created_completed_and_refunds() -> None:
    """order.created → placed; order.updated to completed → delivered (with the configured status)."""
    (placed,) = woocommerce.map_delivery("order.created", sample("woocommerce_order_created.json"), OPTIONS)
    assert (placed.type, placed.order_id, placed.contact.email) == (
        "order.placed",
        "727",
        "john.doe@example.com",
    )
    assert placed.contact.customer_id is None  # customer_id 0: a guest
    assert placed.occurred_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    completed = sample("woocommerce_order_updated_completed.json")
    (delivered,) = woocommerce.map_delivery("order.updated", completed, OPTIONS)
    assert (delivered.type, delivered.event_id) == ("order.delivered", "woocommerce:order:727:delivered")
    with pytest.raises(Ignored):
        woocommerce.map_delivery("order.updated", completed, Options(woocommerce_delivered_status="none"))
    completed["refunds"] = [{"id": 726, "reason": "", "total": "-10.00"}]
    events = woocommerce.map_delivery("order.updated", completed, OPTIONS)
    assert [e.type for e in events] == ["order.delivered", "order.refunded"]
    assert events[1].event_id == "woocommerce:refund:726"


def test_woocommerce_ping_is_recognised() -> None:
    """The unsigned form body webhook_id=<n> WooCommerce sends on saving a webhook is a ping."""
    assert woocommerce.is_ping(b"webhook_id=12", {})
    assert not woocommerce.is_ping(b"webhook_id=12", {woocommerce.SIGNATURE: "x"})
    assert not woocommerce.is_ping(b'{"id": 1}', {})


def test_aftership_delivered_tag() -> None:
    """A tracking tagged Delivered is an order.delivered at its delivery time (AfterShip's local
    time with its offset; without one, read as UTC); other tags need nothing."""
    payload = sample("aftership_tracking_update.json")
    with pytest.raises(Unmappable, match="no order"):
        aftership.map_delivery("tracking_update", payload, OPTIONS)
    payload["msg"]["order_id"] = "450789469"
    (event,) = aftership.map_delivery("tracking_update", payload, OPTIONS)
    assert (event.type, event.order_id) == ("order.delivered", "450789469")
    assert event.event_id == "aftership:c7m2w4k9p1x8r5t3v6y0z2qa:delivered"
    assert event.occurred_at == datetime(2026, 11, 16, 10, 42, tzinfo=UTC)  # 11:42+01:00
    payload["msg"]["shipment_delivery_date"] = "2026-11-16T11:42:00"  # older webhook versions
    (event,) = aftership.map_delivery("tracking_update", payload, OPTIONS)
    assert event.occurred_at == datetime(2026, 11, 16, 11, 42, tzinfo=UTC)
    payload["msg"]["tag"] = "InTransit"
    with pytest.raises(Ignored):
        aftership.map_delivery("tracking_update", payload, OPTIONS)


def test_chatwoot_resolved_is_ticket_closed() -> None:
    """conversation_status_changed to resolved is ticket.closed for the contact; open is ignored."""
    payload = sample("chatwoot_conversation_status_changed.json")
    with pytest.raises(Ignored, match="open"):
        chatwoot.map_delivery("conversation_status_changed", payload, OPTIONS)
    payload["status"] = "resolved"
    (event,) = chatwoot.map_delivery("conversation_status_changed", payload, OPTIONS)
    assert (event.type, event.ticket_id, event.contact.email) == (
        "ticket.closed",
        "chatwoot-10",
        "jane@acme.inc",
    )
    assert event.occurred_at == datetime.fromtimestamp(1627063369, UTC)


def test_chatwoot_signature_and_token() -> None:
    """Chatwoot's timestamped signature, or the shared token for unsigned versions, authenticates."""
    body = b'{"event": "conversation_status_changed"}'
    secret = "s"
    chatwoot.verify(secret, body, {"X-Chatwoot-Signature": chatwoot.sign(secret, "1700000000", body),
                                   "X-Chatwoot-Timestamp": "1700000000"})  # fmt: skip
    chatwoot.verify(secret, body, {"X-Cxbot-Token": secret})
    from flows.errors import AuthError

    with pytest.raises(AuthError):
        chatwoot.verify(secret, body, {"X-Chatwoot-Signature": chatwoot.sign(secret, "1", body)})
    with pytest.raises(AuthError):
        chatwoot.verify(secret, body, {})


def test_helpdesk_trigger_statuses() -> None:
    """Zendesk/Freshdesk trigger bodies: solved/Resolved close, open opens, pending changes nothing."""
    body = {
        "ticket_id": "T-77",
        "status": "Resolved",
        "updated_at": "2026-11-20T10:00:00Z",
        "requester": {"email": "Jane@Acme.inc", "external_id": "c-42", "locale": "it"},
    }
    (event,) = helpdesk_generic.map_delivery("ticket", body, OPTIONS)
    assert (event.type, event.ticket_id, event.contact.customer_id) == (
        "ticket.closed",
        "helpdesk-T-77",
        "c-42",
    )
    assert event.contact.language == "it"
    body["status"] = "open"
    assert helpdesk_generic.map_delivery("ticket", body, OPTIONS)[0].type == "ticket.opened"
    body["status"] = "pending"
    with pytest.raises(Ignored):
        helpdesk_generic.map_delivery("ticket", body, OPTIONS)


def test_connector_settings_checked_together() -> None:
    """`cxbot config` names what the deep-link e-mail and the Chatwoot API still need."""
    from bot.cli.config_check import check_settings
    from bot.infra.settings import Settings

    problems = check_settings(
        Settings(_env_file=None, deep_link_email=True, chatwoot_url="http://127.0.0.1:3000")
    )
    assert "CXBOT_SMTP_HOST: required when CXBOT_DEEP_LINK_EMAIL is on" in problems
    assert any(p.startswith("CXBOT_TELEGRAM_BOT_USERNAME") for p in problems)
    assert any(p.startswith("CXBOT_CHATWOOT_API_TOKEN, CXBOT_CHATWOOT_ACCOUNT_ID") for p in problems)
    assert check_settings(Settings(_env_file=None)) == []
