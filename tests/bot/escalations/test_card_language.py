"""The agents' card speaks the desk language only: dates, weekdays, stage names, earlier answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.escalations.card import render_card
from flows.journey import load_journey
from flows.scales import Lang
from storage.tables import Customer, Escalation, Response

ROME = ZoneInfo("Europe/Rome")
JOURNEY = load_journey(None)


def _card(lang: str) -> str:
    escalation = Escalation(
        id=7,
        customer_id="c-1",
        order_id="1001",
        survey_id=2,
        stage="delivered",
        priority="p1",
        metric="csat",
        score=2,
        texts=["pacco rotto"],
        topics=["damaged"],
        opened_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        sla_due_at=datetime(2026, 12, 4, 3, 27, tzinfo=UTC),
        updated_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
        human_requested=True,
        overdue_hours=2,
    )
    earlier = Response(
        survey_id=1,
        customer_id="c-1",
        stage="first_use",
        metric="nps",
        score=3,
        answered_at=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
    )
    names = {s.id: s.name(Lang(lang)) for s in JOURNEY.stages}
    customer = Customer(id="c-1", name="Sara", language="it", updated_at=datetime(2026, 12, 2, tzinfo=UTC))
    text, _ = render_card(escalation, customer, [earlier], lang=lang, tz=ROME, secret=b"s", stage_names=names)
    return text


def test_italian_desk_card() -> None:
    """An Italian desk reads Italian dates, stage names and answers ("Primo utilizzo · NPS 3 · 2 dic")."""
    text = _card("it")
    assert "Scadenza SLA: ven 4 dic 04:27" in text
    assert "Fase: Consegna" in text and "Temi: Articolo danneggiato" in text
    assert "Risposte precedenti: Primo utilizzo · NPS 3 · 2 dic" in text
    assert "⏰ scaduta da 2 h" in text and "Ha chiesto di parlare con una persona" in text
    assert "· italiano" in text
    assert not re.search(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun|Dec|delivered|first_use)\b", text)


def test_english_desk_card() -> None:
    """An English desk reads English dates and stage names."""
    text = _card("en")
    assert "SLA due: Fri 4 Dec 04:27" in text and "Stage: Delivery" in text
    assert "Earlier answers: First use · NPS 3 · 2 Dec" in text and "⏰ overdue by 2 h" in text
    assert "· Italian" in text
