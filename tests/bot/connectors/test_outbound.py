"""Outbound: an escalation opens a Chatwoot conversation with the card as a private note (later
changes add notes to it); the deep link reaches a customer with no chat by e-mail, once per order,
in their language, with an unsubscribe link that works."""

from __future__ import annotations

import email
import email.policy
import json
import re
from typing import Any

from sqlmodel import select

from bot.connectors import chatwoot_out
from bot.connectors.jobs import deliver_outbound
from bot.connectors.worker import process_pending
from bot.engine.service import Service
from bot.escalations import hooks
from flows.conversation import CustomerText
from flows.journey import Journey
from storage.db import Database
from storage.tables import ChatwootConversation, Customer, OutboxMessage
from tests.bot.connectors.conftest import client, make_app, sample
from tests.bot.connectors.test_routes import shopify, woocommerce
from tests.bot.escalations.conftest import CHAT, detractor
from tests.clocks import FakeClock
from tests.fakes.chatwoot import FakeChatwoot
from tests.fakes.smtp import SmtpHandler

CHATWOOT_TOKEN = "cw-api-token"


async def test_escalation_opens_a_chatwoot_conversation_then_adds_notes(
    service: Service, clock: FakeClock, journey: Journey, chatwoot: tuple[str, type[FakeChatwoot]]
) -> None:
    """The first change of an escalation opens one conversation (private card note); a later change
    (the customer's reason) adds a note to the same conversation, even after a failed attempt."""
    url, fake = chatwoot
    app = make_app(
        service.db,
        journey,
        clock,
        chatwoot_url=url,
        chatwoot_api_token=CHATWOOT_TOKEN,
        chatwoot_account_id=3,
        chatwoot_inbox_id=9,
        agents_chat_id=-100123,
        link_secret="s3cret",
    )
    app.service = service
    hooks.install(app)
    chatwoot_out.install(app)
    chatwoot_out.install(app)  # once only
    detractor(service, clock)
    fake.fail_next.append(503)
    assert await deliver_outbound(app, clock.now) == {"retry": 1}
    assert await deliver_outbound(app, clock.advance(minutes=2)) == {"sent": 1}
    (conversation,) = fake.conversations
    assert (conversation["inbox_id"], conversation["contact_id"], conversation["source_id"]) == (
        9,
        100,
        "src-100",
    )
    (note,) = conversation["messages"]
    assert note["private"] is True and note["message_type"] == "outgoing"
    assert "customer: c-42" in note["content"] and "order: 1001" in note["content"]
    assert all(call[3] == CHATWOOT_TOKEN for call in fake.calls)

    service.feed("c-42", CustomerText(text="Il pacco era distrutto"), via=CHAT)
    assert await deliver_outbound(app, clock.advance(minutes=1)) == {"sent": 1}
    assert len(fake.conversations) == 1 and len(fake.contacts) == 1
    assert "> Il pacco era distrutto" in conversation["messages"][-1]["content"]
    with service.db.read() as session:
        (link,) = session.exec(select(ChatwootConversation)).all()
    assert link.conversation_id == conversation["id"]


async def test_deep_link_mail_once_per_order_in_english_with_unsubscribe(
    sqlite_db: Database, journey: Journey, clock: FakeClock, smtp: tuple[int, type[SmtpHandler]]
) -> None:
    """A WooCommerce order from an unreachable customer sends one English e-mail with the deep link;
    its order's completion sends none; the unsubscribe link opts the customer out."""
    port, mailbox = smtp
    app = make_app(
        sqlite_db,
        journey,
        clock,
        deep_link_email=True,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        public_url="https://cx.example.com",
        link_secret="s3cret",
    )
    created = sample("woocommerce_order_created.json")
    created["meta_data"] = [{"id": 1, "key": "wpml_language", "value": "en"}]
    completed = sample("woocommerce_order_updated_completed.json")
    async with client(app) as http:
        for topic, payload, delivery in (("order.created", created, "1"), ("order.updated", completed, "2")):
            body, headers = woocommerce(topic, payload, delivery)
            assert (
                await http.post("/v1/connectors/woocommerce", content=body, headers=headers)
            ).status_code == 200
        assert process_pending(app, clock.now) == {"ok": 2}
        assert await deliver_outbound(app, clock.now) == {"sent": 1}
        (mail,) = mailbox.mails
        message = email.message_from_string(mail, policy=email.policy.default)
        text = message.get_content()
        assert message["To"] == "john.doe@example.com"
        assert message["Subject"] == "Your order 727: how did it go?"
        assert text.startswith("Hi John,") and "https://t.me/moka_bot?start=" in text
        unsubscribe = re.search(r"https://cx\.example\.com(/v1/connectors/unsubscribe/\S+)", text)
        assert unsubscribe is not None and message["List-Unsubscribe"] == f"<{unsubscribe.group(0)}>"
        forged = await http.get(unsubscribe.group(1)[:-2] + "00")
        assert forged.status_code == 404
        done = await http.get(unsubscribe.group(1))
        assert done.status_code == 200 and "non riceverai" in done.text
    with sqlite_db.read() as session:
        customer = session.get(Customer, "email:john.doe@example.com")
        kinds = [m.channel for m in session.exec(select(OutboxMessage))]
    assert customer is not None and customer.opted_out and customer.language == "en"
    assert kinds == ["customer_email"]


async def test_no_deep_link_mail_without_the_setting_or_for_opted_out(
    sqlite_db: Database, journey: Journey, clock: FakeClock, smtp: tuple[int, type[SmtpHandler]]
) -> None:
    """Without CXBOT_DEEP_LINK_EMAIL nothing is e-mailed; an opted-out customer gets nothing either."""
    port, _ = smtp
    base: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    off = make_app(sqlite_db, journey, clock, **base)
    async with client(off) as http:
        body, headers = shopify("orders/create", sample("shopify_orders_create.json"), "a")
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
    assert process_pending(off, clock.now) == {"ok": 1}
    with sqlite_db.write() as session:
        bob = session.get(Customer, "207119551")
        assert bob is not None
        bob.opted_out = True
        session.add(bob)
    on = make_app(sqlite_db, journey, clock, deep_link_email=True, **base)
    second = json.loads(json.dumps(sample("shopify_orders_create.json")))
    second["id"] = 450789470
    async with client(on) as http:
        body, headers = shopify("orders/create", second, "b")
        await http.post("/v1/connectors/shopify", content=body, headers=headers)
    assert process_pending(on, clock.now) == {"ok": 1}
    with sqlite_db.read() as session:
        assert session.exec(select(OutboxMessage)).all() == []
