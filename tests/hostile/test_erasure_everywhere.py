"""Erasure and retention reach every copy: a customer seeded through every path, then every column grepped."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select

from bot.channels.telegram.agents import handle_agent_update
from bot.channels.telegram.api import make_bot
from bot.channels.telegram.processor import InboxProcessor
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import incoming
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.privacy.erase import delete_old_comments, forget_customer
from bot.privacy.registry import ERASED_TEXT, REGISTRY
from flows.errors import ConflictError
from storage import inbox
from storage.tables import Escalation, InboxUpdate, Response
from tests.bot.escalations.conftest import AGENT, AGENTS, DeskApp, api, client, desk_app
from tests.clocks import FakeClock
from tests.fakes.bot_api import FakeBotAPI
from tests.hostile.conftest import Tally

__all__ = ["api", "client", "desk_app"]  # fixtures used here

CHAT = 8812345
OTHER_CHAT = 7700001
NAME = "Ginevra Bortolotti"
WORDS = "Il macinacaffè Zeta è arrivato crepato, servizio pessimo"
AGENT_WORDS = "Gentile cliente, spediamo un ricambio entro venerdì"
PERSONAL = [
    NAME,
    "Ginevra",
    "Bortolotti",
    "ginny_b",
    "cust-7f3a9",
    str(CHAT),
    "ord-55102",
    "tkt-9931",
    "evt-ord-55102-placed",
    "evt-ord-55102-delivered",
    "evt-tkt-9931",
    "Macinacaffè Zeta",
    WORDS,
    "crepato",
    AGENT_WORDS,
    "ricambio entro venerdì",
]


def _event(
    clock: FakeClock, kind: str, event_id: str, customer: str, name: str, chat: int, order: str, **extra: Any
) -> BusinessEventIn:
    data = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
        "customer": {"id": customer, "name": name, "language": "it", "telegram_chat_id": chat},
        "order": {"id": order, "items": [{"name": "Macinacaffè Zeta" if chat == CHAT else "Moka"}]},
        **extra,
    }
    return BusinessEventIn.model_validate(data)


async def _customer_says(
    service: Service, api: FakeBotAPI, chat: int, text: str, now: datetime, **who: Any
) -> None:
    bot = make_bot("123:TEST", api.url)
    try:
        row = incoming(api.push_message(chat, text, language_code="it", **who))
        assert row is not None
        inbox.store(service.db, CHANNEL, [row], now)
        await InboxProcessor(service, bot, b"k" * 32).process_once()
    finally:
        await bot.session.close()


def _agent_update(service: Service, raw: dict[str, Any], now: datetime) -> None:
    """Store an agents'-chat update in the inbox, processed, as the Telegram channel does."""
    row = incoming(raw)
    if row is None:  # group updates are not customers' messages: stored raw, as the adapter does
        row = inbox.Incoming(external_id=str(raw["update_id"]), chat_key=str(AGENTS), payload=raw)
    inbox.store(service.db, CHANNEL, [row], now)
    with service.db.write() as session:
        for stored in session.exec(select(InboxUpdate).where(col(InboxUpdate.processed_at).is_(None))):
            stored.processed_at = now
            session.add(stored)


async def _seed(service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp) -> None:
    """Events, chat answers, a comment, an escalation an agent takes and answers; and a control customer."""
    app, _config, call, pump = desk_app
    who = {"first_name": "Ginevra", "last_name": "Bortolotti", "username": "ginny_b"}
    for kind, event_id in (
        ("order.placed", "evt-ord-55102-placed"),
        ("order.delivered", "evt-ord-55102-delivered"),
    ):
        ingest_event(
            service.db,
            service.journey,
            _event(clock, kind, event_id, "cust-7f3a9", NAME, CHAT, "ord-55102"),
            clock.now,
            quiet=None,
        )
    ingest_event(
        service.db,
        service.journey,
        _event(clock, "order.delivered", "evt-ctl", "cust-ctl", "Aldo Neri", OTHER_CHAT, "ord-ctl"),
        clock.now,
        quiet=None,
    )
    run_due_work(service, clock.now, quiet=None)
    await _customer_says(service, api, CHAT, "1", clock.now, **who)
    await _customer_says(service, api, CHAT, WORDS, clock.now, **who)
    await _customer_says(service, api, OTHER_CHAT, "2", clock.now, first_name="Aldo")
    await _customer_says(
        service, api, OTHER_CHAT, "Corriere lento ma prodotto ottimo", clock.now, first_name="Aldo"
    )
    ticket = _event(
        clock,
        "ticket.opened",
        "evt-tkt-9931",
        "cust-7f3a9",
        NAME,
        CHAT,
        "ord-55102",
        ticket={"id": "tkt-9931"},
    )
    ingest_event(service.db, service.journey, ticket, clock.now, quiet=None)
    await pump()
    with service.db.read() as session:
        escalation = session.exec(select(Escalation).where(Escalation.customer_id == "cust-7f3a9")).one()
    card_id = escalation.card_message_id
    assert card_id is not None
    card = next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)
    buttons = {b["text"]: b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row}
    for raw in (
        api.push_callback(AGENTS, card_id, buttons["✋ Take"], user_id=AGENT),
        api.push_message(
            AGENTS, AGENT_WORDS, user_id=AGENT, chat_type="supergroup", reply_to_message_id=card_id
        ),
    ):
        _agent_update(service, raw, clock.now)
        assert await handle_agent_update(app, raw, call=call) in ("taken", "replied")
    await _customer_says(service, api, CHAT, "Grazie, Ginevra Bortolotti attende", clock.now, **who)
    await pump()


def _grep_everything(service: Service, needles: list[str]) -> list[tuple[str, str, str]]:
    """Return (table, column, needle) for every needle found in any column of any table."""
    found = []
    with service.db.read_engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa_select(table)):
                for column, value in row._mapping.items():
                    if value is None:
                        continue
                    shown = (
                        json.dumps(value, ensure_ascii=False, default=str)
                        if not isinstance(value, str)
                        else value
                    )
                    for needle in needles:
                        if needle.lower() in shown.lower():
                            found.append((table.name, str(column), needle))
    return found


async def test_forget_leaves_nothing_anywhere(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp, tally: Tally
) -> None:
    """After forget, no column of any table holds the name, ids or words; the posted card reads [erased]."""
    await _seed(service, clock, api, desk_app)
    assert {t for t, _, _ in _grep_everything(service, PERSONAL)} >= {
        "customers",
        "inbox",
        "escalations",
        "outbox",
    }
    result = forget_customer(service.db, "cust-7f3a9", clock.now)
    assert result.cards_erased == 1 and result.payloads_removed >= 1
    _app, _config, _call, pump = desk_app
    await pump()  # the card's edit goes out
    left = _grep_everything(service, PERSONAL)
    tally.leftover(len(left))
    assert left == []
    with service.db.read() as session:
        card_id = (
            session.exec(select(Escalation).where(col(Escalation.customer_id).is_(None)))
            .one()
            .card_message_id
        )
        control = session.exec(select(Response).where(Response.customer_id == "cust-ctl")).one()
    posted = next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)
    assert posted["text"] == ERASED_TEXT and not (posted.get("reply_markup") or {}).get("inline_keyboard")
    assert control.comment == "Corriere lento ma prodotto ottimo"  # another customer's data is untouched
    assert _grep_everything(service, ["Aldo Neri", "cust-ctl"])  # still there
    try:  # a later event about the erased person is refused, not stored again
        ingest_event(
            service.db,
            service.journey,
            _event(clock, "order.placed", "evt-new", "cust-7f3a9", NAME, CHAT, "ord-new"),
            clock.now,
            quiet=None,
        )
    except ConflictError:
        pass
    else:
        raise AssertionError("an event about an erased customer was accepted")
    assert _grep_everything(service, PERSONAL) == []


async def test_retention_reaches_inbox_escalations_outbox_and_cards(
    service: Service, clock: FakeClock, api: FakeBotAPI, desk_app: DeskApp, tally: Tally
) -> None:
    """Comment retention removes the words from responses, escalations, inbox, outbox and the posted card."""
    await _seed(service, clock, api, desk_app)
    words = [WORDS, "crepato", "Corriere lento ma prodotto ottimo"]
    assert _grep_everything(service, words)
    clock.advance(days=400)
    assert delete_old_comments(service.db, clock.now - timedelta(days=365), clock.now) == 2
    _app, _config, _call, pump = desk_app
    await pump()
    left = _grep_everything(service, words)
    tally.leftover(len(left))
    assert left == []
    with service.db.read() as session:
        card_id = (
            session.exec(select(Escalation).where(Escalation.customer_id == "cust-7f3a9"))
            .one()
            .card_message_id
        )
    assert next(m for m in api.chat_messages(AGENTS) if m["message_id"] == card_id)["text"] == ERASED_TEXT


def test_registry_names_every_table_holding_customer_data() -> None:
    """The registry lists each table a customer's data can reach (a new table must be added there)."""
    listed = {place.table for place in REGISTRY}
    # aggregates, the agents' own audit, closing answers (yes/no per escalation, no words) and
    # the poller's leader lease (a worker's name)
    customer_free = {"job_runs", "agent_actions", "closing_questions", "leader_leases"}
    assert {t.name for t in SQLModel.metadata.sorted_tables} - customer_free == listed
