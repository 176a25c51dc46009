"""Export and the right to be forgotten."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.engine.apply import Address
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.privacy.erase import delete_old_comments, forget_customer
from bot.privacy.export import ANSWER_FIELDS, answer_rows, customer_record, write_rows
from bot.privacy.registry import pseudonym
from flows.conversation import CustomerText
from flows.errors import NotFoundError
from flows.report import WeeklyReport
from storage.summary import stage_summaries
from storage.tables import BusinessEvent, ChannelIdentity, Customer, Escalation, Response
from tests.clocks import FakeClock


def _answer(service: Service, clock: FakeClock, customer: str, chat: str, reply: str, reason: str) -> None:
    event = BusinessEventIn.model_validate(
        {
            "event_id": f"evt-{customer}",
            "type": "order.delivered",
            "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
            "customer": {
                "id": customer,
                "name": "Giulia Rossi",
                "language": "it",
                "telegram_chat_id": int(chat),
            },
            "order": {"id": f"o-{customer}", "items": [{"name": "Moka"}]},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now)
    run_due_work(service, clock.now)
    service.feed(customer, CustomerText(text=reply), via=Address("telegram", chat))
    service.feed(customer, CustomerText(text=reason), via=Address("telegram", chat))


def _weekly(service: Service, clock: FakeClock) -> WeeklyReport:
    """Return the weekly report of the clock's week, every cell shown."""
    from flows.report import stage_refs, week_of
    from storage.report_queries import weekly_report

    with service.db.read_engine.connect() as conn:
        return weekly_report(
            conn,
            now=clock.now,
            timezone="Europe/Rome",
            stages=stage_refs(service.journey.stages),
            week=week_of(clock.now, "Europe/Rome"),
            min_n=1,
        )


def test_forget_erases_personal_data_and_keeps_scores(service: Service, clock: FakeClock) -> None:
    """forget removes name, chats, comments and events; anonymous scores and the figures stay."""
    _answer(service, clock, "c-1", "111", "1", "Il pacco è arrivato distrutto, Via Roma 5")
    _answer(service, clock, "c-2", "222", "5", "tutto perfetto")
    before = stage_summaries(service.db)
    weekly_before = _weekly(service, clock)
    result = forget_customer(service.db, "c-1", clock.now)
    assert result.answers_anonymised == 1 and result.identities_removed == 1
    with service.db.read() as session:
        assert session.get(Customer, "c-1") is None  # the tombstone keeps a pseudonym, not the id
        customer = session.get(Customer, pseudonym("c-1"))
        assert customer is not None
        assert customer.name is None and customer.erased_at is not None and customer.opted_out
        assert [i.customer_id for i in session.exec(select(ChannelIdentity))] == ["c-2"]
        assert [e.customer_id for e in session.exec(select(BusinessEvent))] == ["c-2"]
        responses = list(session.exec(select(Response)))
        (anonymous,) = [r for r in responses if r.customer_id is None]
        assert anonymous.score == 1 and anonymous.comment is None and anonymous.order_id is None
        for escalation in session.exec(select(Escalation)):
            assert escalation.customer_id != "c-1" and "Via Roma" not in " ".join(escalation.texts)
    assert stage_summaries(service.db) == before
    weekly_after = _weekly(service, clock)
    assert weekly_after.stages == weekly_before.stages and weekly_after.total_answers == 2
    dumped = json.dumps(list(answer_rows(service.db)))
    assert "Via Roma" not in dumped and "c-1" not in dumped


def test_forget_unknown_customer_says_so(service: Service, clock: FakeClock) -> None:
    """Forgetting a customer that does not exist raises NotFoundError instead of pretending."""
    with pytest.raises(NotFoundError):
        forget_customer(service.db, "nobody", clock.now)


def test_export_lines_have_the_contract_fields(service: Service, clock: FakeClock) -> None:
    """export writes one JSON line / CSV row per answer with the contract fields."""
    _answer(service, clock, "c-1", "111", "4", "veloce")
    buffer = io.StringIO()
    assert write_rows(answer_rows(service.db), buffer, "jsonl", ANSWER_FIELDS) == 1
    row = json.loads(buffer.getvalue())
    assert {
        "customer_id",
        "order_id",
        "stage",
        "metric",
        "score",
        "comment",
        "language",
        "channel",
        "answered_at",
    } <= set(row)
    assert (row["customer_id"], row["score"], row["comment"], row["channel"]) == (
        "c-1",
        4,
        "veloce",
        "telegram",
    )
    buffer = io.StringIO()
    write_rows(answer_rows(service.db), buffer, "csv", ANSWER_FIELDS)
    (parsed,) = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert parsed["stage"] == "delivered" and parsed["score"] == "4"


def test_customer_record_gives_one_persons_data(service: Service, clock: FakeClock) -> None:
    """An access request returns the customer's profile, chats, surveys and answers only."""
    _answer(service, clock, "c-1", "111", "4", "veloce")
    _answer(service, clock, "c-2", "222", "2", "lento")
    record = customer_record(service.db, "c-1")
    assert record is not None
    assert record["customer"]["name"] == "Giulia Rossi"
    assert [c["address"] for c in record["channels"]] == ["111"]
    assert [a["comment"] for a in record["answers"]] == ["veloce"]
    assert customer_record(service.db, "nobody") is None


def test_retention_deletes_only_older_comments(service: Service, clock: FakeClock) -> None:
    """Retention removes comments older than the cut-off and keeps newer ones and all scores."""
    _answer(service, clock, "c-1", "111", "4", "vecchio commento")
    clock.advance(days=200)
    _answer(service, clock, "c-2", "222", "5", "commento recente")
    assert delete_old_comments(service.db, clock.now - timedelta(days=180)) == 1
    comments = sorted((r["score"], r["comment"]) for r in answer_rows(service.db))
    assert comments == [(4, None), (5, "commento recente")]


def test_customer_erases_own_data_from_the_chat(service: Service, clock: FakeClock) -> None:
    """A customer's chat erasure removes their personal data at once and confirms in their language."""
    from flows.conversation import ButtonPress, Command, CommandName

    _answer(service, clock, "c-1", "111", "4", "Via Roma 5, consegna veloce")
    chat = Address("telegram", "111")
    service.feed("c-1", Command(name=CommandName.PRIVACY), via=chat)
    service.feed("c-1", ButtonPress(survey_id=None, value="privacy:erase"), via=chat)
    with service.db.read() as session:
        customer = session.get(Customer, "c-1")
        assert customer is not None
        assert customer.name is None and customer.erased_at is not None and customer.opted_out
        assert list(session.exec(select(ChannelIdentity))) == []
        from storage.tables import OutboxMessage

        pending = [m.payload["text"] for m in session.exec(select(OutboxMessage))]
    assert any("abbiamo cancellato i tuoi dati personali" in t for t in pending)
    assert [(r["score"], r["comment"], r["customer_id"]) for r in answer_rows(service.db)] == [
        (4, None, None)
    ]
