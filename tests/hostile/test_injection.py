"""SQL and HTML in names and comments: stored verbatim, escaped in the report and the agents' card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.escalations.card import render_card
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.report.render_html import render_html
from bot.report.render_text import render_text
from flows.conversation import CustomerText
from flows.report import StageRef, build_report
from flows.scales import Metric
from storage.db import Database
from storage.report_queries import load_report_inputs
from storage.tables import Customer, Escalation, Response

NAME = 'Robert\'); DROP TABLE customers;-- <b>Bobby</b> & "Tables"'
COMMENT = "<script>alert('x')</script>' OR 1=1; -- pacco <i>rotto</i> & \"bagnato\""
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # week 2026-W47


def _answer(service: Service) -> None:
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-evil",
            "type": "order.delivered",
            "occurred_at": (NOW - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-evil", "name": NAME, "language": "it", "telegram_chat_id": 4242},
            "order": {"id": "o-evil"},
        }
    )
    ingest_event(service.db, service.journey, event, NOW)
    assert run_due_work(service, NOW, quiet=None) == {"fed": 1}
    via = Address("telegram", "4242")
    service.feed("c-evil", CustomerText(text="1"), via=via, now=NOW)
    service.feed("c-evil", CustomerText(text=COMMENT), via=via, now=NOW + timedelta(minutes=1))


def test_sql_and_html_are_stored_verbatim(service: Service, db: Database) -> None:
    """The hostile name and comment are stored exactly as typed, and every table is still there."""
    _answer(service)
    with db.read() as session:
        customer = session.get(Customer, "c-evil")
        response = session.exec(select(Response)).one()
    assert customer is not None and customer.name == NAME
    assert response.comment == COMMENT
    assert response.score == 1


def test_report_escapes_customer_words(service: Service, db: Database) -> None:
    """The weekly HTML report and its Telegram text show the comment escaped, never as markup."""
    _answer(service)
    with db.engine.connect() as conn:
        raw = load_report_inputs(
            conn, "2026-W47", timezone="Europe/Rome", stages=[StageRef(key="delivered", metric=Metric.CSAT)]
        )
    report = build_report(raw, language="it", min_n=1, now=NOW + timedelta(days=7))
    assert any(q.text == COMMENT for q in report.verbatims), "the comment is not among the verbatims"
    page = render_html(report, chart_png=b"")
    assert "<script>" not in page and "<i>rotto</i>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    telegram = "\n".join(render_text(report))
    assert "<script>" not in telegram and "&lt;script&gt;" in telegram


def test_agents_card_escapes_name_and_words() -> None:
    """The escalation card (Telegram HTML) escapes the customer's name and words."""
    customer = Customer(id="c-evil", name=NAME, language="it", created_at=NOW, updated_at=NOW)
    escalation = Escalation(
        id=7,
        customer_id="c-evil",
        order_id="o-<b>1</b>",
        priority="p1",
        metric="csat",
        score=1,
        texts=[COMMENT],
        opened_at=NOW,
        sla_due_at=NOW + timedelta(hours=4),
        updated_at=NOW,
    )
    text, _ = render_card(escalation, customer, [], lang="it", tz=ZoneInfo("Europe/Rome"), secret=b"k" * 32)
    for raw in ("<script>", "<b>Bobby</b>", "<i>rotto</i>", "o-<b>1</b>"):
        assert raw not in text
    assert "&lt;b&gt;Bobby&lt;/b&gt; &amp;" in text
    assert "&lt;script&gt;" in text
