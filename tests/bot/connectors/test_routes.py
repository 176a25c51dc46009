"""POST /v1/connectors/<name>: each platform's sample signed as the platform signs it, replayed
(duplicate), tampered (401, counted, traced), with an unknown topic (stored, 202); the worker
maps the stored rows into business events."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from bot.connectors import chatwoot
from bot.connectors.base import hmac_b64
from bot.connectors.routes import MAX_BODY_BYTES
from bot.connectors.worker import process_pending
from bot.observability.metrics import REGISTRY
from flows.journey import Journey
from storage import connector_deliveries as store
from storage.db import Database
from storage.tables import BusinessEvent, ConnectorDelivery, Customer, CustomerContact, Order
from tests.bot.connectors.conftest import SECRETS, client, make_app, sample
from tests.clocks import FakeClock

Delivery = tuple[bytes, dict[str, str]]


def shopify(
    topic: str, payload: dict[str, Any], webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
) -> Delivery:
    """Sign like Shopify: base64 HMAC-SHA256 of the raw body."""
    body = json.dumps(payload).encode()
    return body, {
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": hmac_b64(SECRETS["shopify_secret"], body),
        "Content-Type": "application/json",
    }


def woocommerce(topic: str, payload: dict[str, Any], delivery_id: str = "4021") -> Delivery:
    """Sign like WooCommerce: base64 HMAC-SHA256 of the raw body."""
    body = json.dumps(payload).encode()
    return body, {
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Delivery-ID": delivery_id,
        "X-WC-Webhook-Signature": hmac_b64(SECRETS["woocommerce_secret"], body),
    }


def aftership(payload: dict[str, Any]) -> Delivery:
    """Sign like AfterShip: base64 HMAC-SHA256 of the raw body in aftership-hmac-sha256."""
    body = json.dumps(payload).encode()
    return body, {"aftership-hmac-sha256": hmac_b64(SECRETS["aftership_secret"], body)}


def chatwoot_signed(payload: dict[str, Any], delivery: str = "d-1") -> Delivery:
    """Sign like Chatwoot: sha256=<hex HMAC of "<timestamp>." + body>."""
    body = json.dumps(payload).encode()
    return body, {
        "X-Chatwoot-Signature": chatwoot.sign(SECRETS["chatwoot_secret"], "1627063400", body),
        "X-Chatwoot-Timestamp": "1627063400",
        "X-Chatwoot-Delivery": delivery,
    }


def helpdesk(payload: dict[str, Any]) -> Delivery:
    """A Zendesk webhook with Bearer-token authentication."""
    return json.dumps(payload).encode(), {"Authorization": f"Bearer {SECRETS['helpdesk_secret']}"}


def _resolved() -> dict[str, Any]:
    payload = sample("chatwoot_conversation_status_changed.json")
    payload["status"] = "resolved"
    return payload


def _tracked() -> dict[str, Any]:
    payload = sample("aftership_tracking_update.json")
    payload["msg"]["order_id"] = "450789469"
    return payload


HELPDESK_BODY = {
    "ticket_id": "T-77",
    "status": "solved",
    "updated_at": "2026-11-17T09:00:00Z",
    "requester": {"email": "bob.norman@hostmail.com", "external_id": "", "name": "Bob"},
}

VALID: dict[str, Callable[[], Delivery]] = {
    "shopify": lambda: shopify("orders/create", sample("shopify_orders_create.json")),
    "woocommerce": lambda: woocommerce("order.created", sample("woocommerce_order_created.json")),
    "aftership": lambda: aftership(_tracked()),
    "chatwoot": lambda: chatwoot_signed(_resolved()),
    "helpdesk": lambda: helpdesk(HELPDESK_BODY),
}
UNKNOWN: dict[str, Callable[[], Delivery]] = {
    "shopify": lambda: shopify("products/update", {"id": 632910392, "title": "IPod Nano - 8GB"}),
    "woocommerce": lambda: woocommerce("product.created", {"id": 794, "name": "Premium Quality"}),
    "aftership": lambda: aftership({**_tracked(), "event": "edd_revise", "event_id": "e-edd"}),
    "chatwoot": lambda: chatwoot_signed({**_resolved(), "event": "message_created"}, "d-msg"),
    "helpdesk": lambda: helpdesk({"ticket_id": "T-1"}),
}


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _rows(db: Database, connector: str) -> list[ConnectorDelivery]:
    with db.read() as session:
        query = select(ConnectorDelivery).where(ConnectorDelivery.connector == connector)
        return list(session.exec(query.order_by(col(ConnectorDelivery.id))))


@pytest.mark.parametrize("name", list(VALID))
async def test_signed_sample_accepted_once_then_duplicate(
    name: str, sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """A correctly signed sample is stored raw and answered 200; the same delivery again is a duplicate."""
    body, headers = VALID[name]()
    async with client(make_app(sqlite_db, journey, clock)) as http:
        first = await http.post(f"/v1/connectors/{name}", content=body, headers=headers)
        again = await http.post(f"/v1/connectors/{name}", content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "accepted"}), first.text
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    (row,) = _rows(sqlite_db, name)
    assert (row.status, row.duplicates, row.body) == ("pending", 1, body.decode())


@pytest.mark.parametrize("name", list(VALID))
async def test_tampered_delivery_is_401_counted_and_traced(
    name: str, sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """A body changed after signing is refused with 401, counted, and traced without its body."""
    body, headers = VALID[name]()
    tampered = body.replace(b'"', b"'", 1) if name != "helpdesk" else body
    if name == "helpdesk":
        headers = {"Authorization": "Bearer wrong"}
    before = _metric("cxbot_connector_deliveries_total", connector=name, outcome="rejected")
    async with client(make_app(sqlite_db, journey, clock)) as http:
        answer = await http.post(f"/v1/connectors/{name}", content=tampered, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert _metric("cxbot_connector_deliveries_total", connector=name, outcome="rejected") == before + 1
    (row,) = _rows(sqlite_db, name)
    assert (row.status, row.body) == ("rejected", "")
    assert row.detail


@pytest.mark.parametrize("name", list(UNKNOWN))
async def test_unknown_topic_is_stored_202_and_reported(
    name: str, sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """A delivery cxbot cannot map is stored and answered 202 with the reason; the worker reports it."""
    body, headers = UNKNOWN[name]()
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        answer = await http.post(f"/v1/connectors/{name}", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "stored" and answer.json()["reason"]
    assert process_pending(app, clock.now) == {"unmapped": 1}
    (row,) = _rows(sqlite_db, name)
    assert row.status == "unmapped" and row.detail and row.body == body.decode()
    assert store.counts(sqlite_db, name)["unmapped"] == 1


async def test_woocommerce_ping_missing_secret_unknown_connector_and_size(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """WooCommerce's ping gets 200; no secret is 503; an unknown connector 404; a huge body 413."""
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        ping = await http.post(
            "/v1/connectors/woocommerce",
            content=b"webhook_id=31",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        unknown = await http.post("/v1/connectors/magento", content=b"{}")
        huge = await http.post("/v1/connectors/shopify", content=b"x" * (MAX_BODY_BYTES + 1))
    assert (ping.status_code, ping.json()) == (200, {"status": "ping"})
    assert unknown.status_code == 404
    assert huge.status_code == 413
    assert _rows(sqlite_db, "woocommerce") == []
    async with client(make_app(sqlite_db, journey, clock, shopify_secret=None)) as http:
        disabled = await http.post("/v1/connectors/shopify", content=b"{}")
    assert disabled.status_code == 503 and "CXBOT_SHOPIFY_SECRET" in disabled.json()["message"]


async def test_shopify_order_delivery_refund_become_events(
    db: Database, journey: Journey, clock: FakeClock
) -> None:
    """orders/create, a delivered fulfillment and a refund become placed/delivered/refunded for Bob."""
    app = make_app(db, journey, clock)
    fulfillment = sample("shopify_fulfillment.json")
    fulfillment["shipment_status"] = "delivered"
    async with client(app) as http:
        for topic, payload, webhook in (
            ("orders/create", sample("shopify_orders_create.json"), "w-1"),
            ("fulfillments/update", fulfillment, "w-2"),
            ("refunds/create", sample("shopify_refunds_create.json"), "w-3"),
        ):
            body, headers = shopify(topic, payload, webhook)
            assert (
                await http.post("/v1/connectors/shopify", content=body, headers=headers)
            ).status_code == 200
    assert process_pending(app, clock.now) == {"ok": 3}
    with db.read() as session:
        events = {e.type: e for e in session.exec(select(BusinessEvent))}
        customer = session.get(Customer, "207119551")
        order = session.get(Order, "450789469")
        contacts = {(c.kind, c.value) for c in session.exec(select(CustomerContact))}
    assert set(events) == {"order.placed", "order.delivered", "order.refunded"}
    assert {e.customer_id for e in events.values()} == {"207119551"}
    assert customer is not None and customer.name == "Bob"
    assert order is not None and order.status == "refunded"
    assert contacts == {("email", "bob.norman@hostmail.com"), ("phone", "5556251199")}
    assert [r.status for r in _rows(db, "shopify")] == ["ok", "ok", "ok"]
    assert _rows(db, "shopify")[0].events == ["shopify:order:450789469:placed"]


async def test_helpdesk_contact_unknown_then_replayed_after_the_order(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """A solved ticket for an unknown e-mail is kept as unmapped; replayed once the shop knows Bob,
    it closes the ticket for him (the support CES is scheduled)."""
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        body, headers = helpdesk(HELPDESK_BODY)
        assert (await http.post("/v1/connectors/helpdesk", content=body, headers=headers)).status_code == 200
        assert process_pending(app, clock.now) == {"unmapped": 1}
        body, headers = shopify("orders/create", sample("shopify_orders_create.json"))
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
    assert process_pending(app, clock.now) == {"ok": 1}
    (ticket_row,) = _rows(sqlite_db, "helpdesk")
    assert store.replay(sqlite_db, status="unmapped") == 1
    assert process_pending(app, clock.now) == {"ok": 1}
    with sqlite_db.read() as session:
        closed = session.get(BusinessEvent, _rows(sqlite_db, "helpdesk")[0].events[0])
    assert closed is not None and (closed.type, closed.customer_id) == ("ticket.closed", "207119551")
    assert ticket_row.detail and "no customer" in ticket_row.detail


async def test_a_failing_ingest_is_retried_not_lost(
    sqlite_db: Database, journey: Journey, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error while mapping leaves the delivery pending (retried after its lease)."""
    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        body, headers = VALID["shopify"]()
        await http.post("/v1/connectors/shopify", content=body, headers=headers)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr("bot.connectors.worker.ingest_event", broken)
    assert process_pending(app, clock.now) == {"retry": 1}
    (row,) = _rows(sqlite_db, "shopify")
    assert row.status == "pending" and row.detail and "hiccup" in row.detail
    monkeypatch.undo()
    assert process_pending(app, clock.advance(minutes=1)) == {"ok": 1}
    assert _rows(sqlite_db, "shopify")[0].status == "ok"


async def test_forget_erases_contacts_and_the_raw_bodies_naming_the_customer(
    sqlite_db: Database, journey: Journey, clock: FakeClock
) -> None:
    """`forget` deletes the e-mails/phones connectors learnt and blanks the webhook bodies naming them."""
    from bot.privacy.erase import forget_customer

    app = make_app(sqlite_db, journey, clock)
    async with client(app) as http:
        body, headers = shopify("orders/create", sample("shopify_orders_create.json"))
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
        other, headers = woocommerce("order.created", sample("woocommerce_order_created.json"))
        await http.post("/v1/connectors/woocommerce", content=other, headers=headers)
    assert process_pending(app, clock.now) == {"ok": 2}
    forget_customer(sqlite_db, "207119551", clock.now)
    with sqlite_db.read() as session:
        contacts = {c.value for c in session.exec(select(CustomerContact))}
    assert contacts == {"john.doe@example.com", "5555555555"}
    (bob,) = _rows(sqlite_db, "shopify")
    (john,) = _rows(sqlite_db, "woocommerce")
    assert (bob.body, bob.status) == ("", "ok") and "bob.norman" not in (bob.detail or "")
    assert john.body == other.decode()
