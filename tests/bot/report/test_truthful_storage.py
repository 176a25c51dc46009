"""What the weekly report counts is stored truthfully: every closing answer, reasons apart from
typed words, re-asks per survey; and migration 0009 fixes a database written the old way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.escalations import desk
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from flows.conversation import ButtonPress, CustomerText
from flows.report import WeeklyReport, stage_refs, week_of
from storage import migrate
from storage.db import Database
from storage.report_queries import weekly_report
from storage.tables import ClosingQuestion, Escalation, Response, SurveyInstance
from tests.bot.escalations.conftest import CHAT, detractor, make_app, make_settings
from tests.clocks import FakeClock
from tests.conftest import drop_pg_database, make_pg_database

TZ = "Europe/Rome"


def _weekly(service: Service, clock: FakeClock) -> WeeklyReport:
    with service.db.read_engine.connect() as conn:
        return weekly_report(
            conn,
            now=clock.now,
            timezone=TZ,
            stages=stage_refs(service.journey.stages),
            week=week_of(clock.now, TZ),
            min_n=1,
        )


def _escalation(service: Service) -> Escalation:
    with service.db.read() as session:
        return session.exec(select(Escalation)).one()


def test_reopened_case_keeps_its_no(service: Service, clock: FakeClock) -> None:
    """Resolve, "no" (reopens), resolve again, "yes": two closing questions kept, both counted."""
    app, config = make_app(service, make_settings())
    detractor(service, clock)
    ident = _escalation(service).id
    assert ident is not None
    desk.take(app, config, ident, "agent-1", clock.advance(hours=1))
    desk.resolve(app, config, ident, "agent-1", clock.advance(hours=1))
    clock.advance(minutes=20)
    service.feed("c-42", ButtonPress(survey_id=None, value="solved:no"), via=CHAT)
    assert _escalation(service).status == "open"
    desk.resolve(app, config, ident, "agent-1", clock.advance(hours=2))
    clock.advance(minutes=5)
    service.feed("c-42", ButtonPress(survey_id=None, value="solved:yes"), via=CHAT)
    with service.db.read() as session:
        rows = list(session.exec(select(ClosingQuestion).order_by(col(ClosingQuestion.asked_at))))
    assert [(r.escalation_id, r.answer, r.asked_by) for r in rows] == [
        (ident, "no", "agent-1"),
        (ident, "yes", "agent-1"),
    ]
    assert rows[0].answered_at is not None and rows[0].answered_at < rows[1].asked_at
    figures = _weekly(service, clock).escalations
    assert figures.resolved == 2  # each resolution once
    assert figures.closing == {"no": 1, "yes": 1}


def test_reason_chip_is_stored_as_reason_not_comment(service: Service, clock: FakeClock) -> None:
    """A tapped chip fills ``reason`` and its topic, not ``comment``: no comment, no quote, a theme."""
    survey_id = detractor(service, clock)  # CSAT 1: the delivery reasons are offered
    service.feed("c-42", ButtonPress(survey_id=survey_id, value="reason:courier"), via=CHAT)
    with service.db.read() as session:
        response = session.exec(select(Response)).one()
    assert (response.score, response.reason, response.comment) == (1, "courier", None)
    assert response.topics == ["delivery"]
    report = _weekly(service, clock)
    assert report.funnel.overall.responses == 1
    assert report.funnel.overall.commented == 0 and report.funnel.overall.comment_rate == 0.0
    assert report.verbatims == []
    assert [(t.topic, t.count) for t in report.themes] == [("delivery", 1)]  # negative band, no text


def test_reask_is_persisted_on_the_survey(service: Service, clock: FakeClock) -> None:
    """A reply that is not understood gets the question again and ``survey_instances.reasks`` says so."""
    event = BusinessEventIn.model_validate(
        {
            "event_id": "evt-r",
            "type": "order.delivered",
            "occurred_at": (clock.now - timedelta(hours=3)).isoformat(),
            "customer": {"id": "c-42", "name": "Giulia", "language": "it", "telegram_chat_id": 4242},
            "order": {"id": "1002", "items": [{"name": "Moka"}]},
        }
    )
    ingest_event(service.db, service.journey, event, clock.now)
    run_due_work(service, clock.now)
    service.feed("c-42", CustomerText(text="9"), via=CHAT)  # CSAT is 1–5
    with service.db.read() as session:
        survey = session.exec(select(SurveyInstance).where(col(SurveyInstance.stage) == "delivered")).one()
    assert survey.reasks == 1
    assert _weekly(service, clock).funnel.overall.reasked == 1


def _old_layout_database(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> tuple[Database, tuple[str, str] | None]:
    if backend == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'old.db'}"), None
    admin_url = request.getfixturevalue("pg_server")
    url, name = make_pg_database(admin_url)
    return Database(url), (admin_url, name)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migration_moves_chip_labels_out_of_comment(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    """On a database at 0006 (chip labels in ``comment``), 0009 keeps typed words only and backfills
    one closing question per escalation that had one."""
    db, cleanup = _old_layout_database(request, tmp_path, backend)
    try:
        migrate.upgrade(db, "0006")
        at = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
        rows = [  # (reason, comment as the old code stored it)
            ("courier", "Corriere"),
            ("courier", "Corriere\nil corriere era scortese"),
            ("late", "Late"),
            (None, "Altro"),  # typed by the customer: no chip was tapped, the text stays
            ("other", "Altro\nnon mi piace il colore"),
            (None, "tutto ok"),
        ]
        with db.engine.begin() as conn:
            for i, (reason, comment) in enumerate(rows):
                conn.execute(
                    text(
                        "INSERT INTO responses (id, stage, metric, score, comment, reason, negative,"
                        " topics, language, channel, late, answered_at) VALUES (:id, 'delivered', 'csat',"
                        " 2, :comment, :reason, false, '[]', 'it', 'telegram', false, :at)"
                    ),
                    {"id": i + 1, "comment": comment, "reason": reason, "at": at},
                )
            for ident, status, resolved, answer, answered in (
                (1, "resolved", at, "yes", at + timedelta(hours=1)),
                (2, "open", None, "no", at + timedelta(hours=2)),  # a "no" reopened it
                (3, "open", None, None, None),
            ):
                conn.execute(
                    text(
                        "INSERT INTO escalations (id, priority, status, texts, topics, opened_at,"
                        " resolved_at, closing_answer, closing_answered_at, updated_at, card_version)"
                        " VALUES (:id, 'p1', :status, '[]', '[]', :opened, :resolved, :answer, :answered,"
                        " :opened, 0)"
                    ),
                    {
                        "id": ident,
                        "status": status,
                        "opened": at - timedelta(days=1),
                        "resolved": resolved,
                        "answer": answer,
                        "answered": answered,
                    },
                )
        migrate.upgrade(db)
        with db.read() as session:
            comments = [r.comment for r in session.exec(select(Response).order_by(col(Response.id)))]
            reasons = [r.reason for r in session.exec(select(Response).order_by(col(Response.id)))]
            closing = [
                (q.escalation_id, q.answer)
                for q in session.exec(select(ClosingQuestion).order_by(col(ClosingQuestion.escalation_id)))
            ]
        assert comments == [
            None,
            "il corriere era scortese",
            None,
            "Altro",
            "non mi piace il colore",
            "tutto ok",
        ]
        assert reasons == [r for r, _ in rows]
        assert closing == [(1, "yes"), (2, "no")]
    finally:
        db.dispose()
        if cleanup is not None:
            drop_pg_database(*cleanup)
