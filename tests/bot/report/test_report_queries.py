"""Report queries on SQLite and (when reachable) PostgreSQL: hand-made rows in, counts out."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from flows.report import StageRef, build_report
from flows.scales import Metric
from storage.report_queries import last_complete_week, latest_answer_week, load_report_inputs, weekly_report
from storage.tables import ClosingQuestion, Customer, Escalation, Response, SurveyInstance

W = "2026-W47"
TZ = "Europe/Rome"
STAGES = [StageRef(key="delivered", metric=Metric.CSAT), StageRef(key="first_use", metric=Metric.NPS)]
PG_URL = os.environ.get("CXBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MON = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)  # Monday of W47


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return False
    return True


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Connection]:
    """A connection to empty cxbot tables: a fresh SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'report.db'}")
        with engine.connect() as c:
            SQLModel.metadata.create_all(c)
            c.commit()
            yield c
        engine.dispose()
        return
    if not _pg_available():
        pytest.skip("PostgreSQL not reachable")
    schema = f"cxbot_report_test_{uuid.uuid4().hex[:8]}"
    engine = create_engine(PG_URL)
    with engine.connect() as admin:
        admin.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.commit()
    try:
        with engine.connect() as raw:
            c = raw.execution_options(schema_translate_map={None: schema})
            SQLModel.metadata.create_all(c)
            c.commit()
            yield c
    finally:
        with engine.connect() as admin:
            admin.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.commit()
        engine.dispose()


def _response(at: datetime, stage: str, metric: str, score: int | None, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "stage": stage,
        "metric": metric,
        "score": score,
        "comment": None,
        "negative": False,
        "topics": [],
        "language": "it",
        "channel": "telegram",
        "late": False,
        "answered_at": at,
    }
    row.update(kw)
    return row


def _fill(c: Connection) -> None:
    responses = [
        _response(MON, "delivered", "csat", 5, comment="Ottimo, <b>veloce</b>"),
        _response(MON + timedelta(hours=1), "delivered", "csat", 1, comment="rotto", negative=True,
                  topics=["damaged", "late_delivery"]),
        _response(MON + timedelta(hours=2), "delivered", "csat", 4, comment="   "),
        _response(MON + timedelta(hours=3), "delivered", "csat", 3, language="en", channel="rasa"),
        # Sunday 23:30 UTC is Monday 00:30 in Rome: W47; 22:30 UTC is still Sunday: W46
        _response(datetime(2026, 11, 15, 23, 30, tzinfo=UTC), "first_use", "nps", 10, comment="top"),
        _response(datetime(2026, 11, 15, 22, 30, tzinfo=UTC), "delivered", "csat", 2, comment="tardi",
                  negative=True, topics=["late_delivery"]),
        _response(MON, "delivered", "csat", None, comment="only words"),  # no score: not counted
        _response(datetime(2026, 7, 1, tzinfo=UTC), "delivered", "csat", 1),  # outside the weeks read
    ]  # fmt: skip
    c.execute(Response.__table__.insert(), responses)  # type: ignore[attr-defined]
    now = MON
    surveys: list[dict[str, Any]] = [
        {"event_id": f"e{i}", "stage": "delivered", "metric": "csat", "status": status, "channel": "telegram",
         "language": "it", "placeholders": {}, "reasks": reasks, "due_at": MON, "sent_at": sent,
         "delivered_at": sent, "created_at": now}
        for i, (status, sent, reasks) in enumerate(
            [("answered", MON, 1), ("answered", MON, 0), ("sent", MON, 0), ("scheduled", None, 0),
             ("cancelled", None, 0)]
        )
    ]  # fmt: skip
    c.execute(SurveyInstance.__table__.insert(), surveys)  # type: ignore[attr-defined]
    c.execute(
        Customer.__table__.insert(),  # type: ignore[attr-defined]
        [
            {
                "id": "c1",
                "language": "it",
                "timezone": TZ,
                "opted_out": True,
                "opted_out_at": MON,
                "created_at": now,
                "updated_at": now,
            },
            {
                "id": "c2",
                "language": "en",
                "timezone": TZ,
                "opted_out": False,
                "opted_out_at": None,
                "created_at": now,
                "updated_at": now,
            },
        ],
    )
    escalations = [
        {"id": 1, "stage": "first_use", "priority": "P1", "status": "resolved", "metric": "nps", "score": 3,
         "texts": [], "topics": [], "opened_at": MON, "sla_due_at": MON + timedelta(hours=8),
         "taken_at": MON + timedelta(hours=2), "resolved_at": MON + timedelta(hours=10),
         "closing_answer": "resolved", "updated_at": now},
        {"id": 2, "stage": "delivered", "priority": "P2", "status": "open", "metric": "csat", "score": 2,
         "texts": [], "topics": [], "opened_at": MON + timedelta(hours=1),
         "sla_due_at": MON + timedelta(days=7), "taken_at": None, "resolved_at": None,
         "closing_answer": None, "updated_at": now},
    ]  # fmt: skip
    c.execute(Escalation.__table__.insert(), escalations)  # type: ignore[attr-defined]
    c.execute(
        ClosingQuestion.__table__.insert(),  # type: ignore[attr-defined]
        [{"escalation_id": 1, "asked_at": MON + timedelta(hours=10), "answer": "resolved",
          "answered_at": MON + timedelta(hours=11)}],
    )  # fmt: skip
    c.commit()


def test_inputs_from_database_by_hand(conn: Connection) -> None:
    """Histograms, funnel, themes, verbatims and escalations of a hand-made week come out as counted."""
    _fill(conn)
    raw = load_report_inputs(conn, W, timezone=TZ, stages=STAGES)
    assert raw.weeks[-1] == W
    assert len(raw.weeks) == 11
    hist = {(s.week, s.stage, s.language, s.channel, s.score): s.count for s in raw.scores}
    assert hist == {
        (W, "delivered", "it", "telegram", 5): 1,
        (W, "delivered", "it", "telegram", 1): 1,
        (W, "delivered", "it", "telegram", 4): 1,
        (W, "delivered", "en", "rasa", 3): 1,
        (W, "first_use", "it", "telegram", 10): 1,
        ("2026-W46", "delivered", "it", "telegram", 2): 1,
    }
    funnel = {(f.stage, f.language, f.channel): f for f in raw.funnel if f.week == W}
    tg = funnel[("delivered", "it", "telegram")]
    # the "scheduled" one has no timer waiting for a chat: still pending, not unreachable (CX_METHOD §7)
    assert (tg.due, tg.sent, tg.delivered, tg.reasked, tg.unreachable) == (5, 3, 3, 1, 0)
    assert (tg.due_sent, tg.due_sent_later, tg.due_cancelled, tg.sent_late) == (3, 0, 1, 0)
    assert tg.answered == 0  # no survey row has answered_at: the cohort has no answers yet
    assert (tg.responses, tg.commented) == (3, 2)  # blank comment does not count
    assert funnel[("", "it", "")].opted_out == 1
    topics = {(t.week, t.topic): t.count for t in raw.topics}
    assert topics == {(W, "damaged"): 1, (W, "late_delivery"): 1, ("2026-W46", "late_delivery"): 1}
    assert [(v.score, v.text) for v in raw.verbatims] == [
        (1, "rotto"),
        (5, "Ottimo, <b>veloce</b>"),  # CSAT 5 and NPS 10 both top their scale: newer first
        (10, "top"),
    ]
    esc = next(e for e in raw.escalations if e.week == W)
    assert (esc.opened, esc.taken, esc.resolved, esc.overdue) == (2, 1, 1, 0)
    assert esc.take_seconds == [7200.0]
    assert esc.resolve_seconds == [36000.0]
    assert (esc.within_sla, esc.sla_total) == (1, 1)  # the second one's SLA falls due in W48
    assert esc.closing == {"resolved": 1}
    assert (esc.detractors_closed, esc.detractors_recovered) == (1, 1)


def test_overdue_escalation_listed(conn: Connection) -> None:
    """An escalation not resolved by the end of the week with its SLA past is overdue and listed."""
    _fill(conn)
    raw = load_report_inputs(conn, "2026-W48", timezone=TZ, stages=STAGES)
    esc = next(e for e in raw.escalations if e.week == "2026-W48")
    assert esc.overdue == 1
    assert [(o.stage, o.priority, o.taken) for o in esc.overdue_items] == [("delivered", "P2", False)]


def test_weekly_report_end_to_end(conn: Connection) -> None:
    """The default week is the last complete one; the report shows the hand-made figures."""
    _fill(conn)
    now = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome
    assert last_complete_week(now, TZ) == W
    report = weekly_report(conn, now=now, timezone=TZ, stages=STAGES, min_n=1)
    delivered = report.stages[0]
    assert delivered.this_week.n == 4
    assert delivered.this_week.csat is not None
    assert delivered.this_week.csat.pct.value == pytest.approx(50.0)
    assert report.funnel.overall.response_rate == 0.0  # delivered 3, none answered_at in the survey rows
    assert report.funnel.overall.comment_rate == pytest.approx(100 * 3 / 5)  # 3 of the 5 scores have words
    assert [(t.topic, t.count, t.change) for t in report.themes] == [
        ("damaged", 1, 1),
        ("late_delivery", 1, 0),
    ]
    assert report.escalations.median_take_hours == pytest.approx(2.0)
    assert report.escalations.recovery_rate == pytest.approx(100.0)
    assert report == build_report(load_report_inputs(conn, W, timezone=TZ, stages=STAGES), min_n=1, now=now)


def test_empty_database(conn: Connection) -> None:
    """An empty database gives an empty but complete report."""
    report = weekly_report(conn, now=MON, timezone=TZ, stages=STAGES)
    assert report.week == "2026-W46"
    assert report.total_answers == 0
    assert report.funnel.overall.response_rate is None
    assert report.escalations.opened == 0


def test_verbatims_give_every_stage_a_voice(conn: Connection) -> None:
    """Quote candidates are ranked per stage, so a busy stage cannot crowd out the others."""
    rows = [
        _response(MON + timedelta(minutes=i), "delivered", "csat", 1, comment=f"d{i}", negative=True)
        for i in range(30)
    ]
    rows.append(_response(MON, "first_use", "nps", 6, comment="meh", negative=True))
    conn.execute(Response.__table__.insert(), rows)  # type: ignore[attr-defined]
    conn.commit()
    raw = load_report_inputs(conn, W, timezone=TZ, stages=STAGES)
    assert [v.text for v in raw.verbatims][:2] == ["d29", "meh"]  # newest CSAT 1, then the other stage
    assert len(raw.verbatims) == 6  # 5 per stage
    report = build_report(raw)
    assert {q.stage for q in report.verbatims} == {"delivered", "first_use"}


def test_verbatims_reach_past_a_thin_extreme_score_and_keep_ties(conn: Connection) -> None:
    """When the most extreme score has fewer comments than a stage's share, the next scores are read
    too; equal extremes are ordered newest first, across metrics; blank comments never count."""
    rows = [
        _response(MON + timedelta(hours=1), "delivered", "csat", 1, comment="worst", negative=True),
        _response(MON + timedelta(hours=2), "delivered", "csat", 1, comment="   ", negative=True),
        *[
            _response(MON + timedelta(hours=3 + i), "delivered", "csat", 2, comment=f"bad{i}", negative=True)
            for i in range(6)
        ],
        # the same stage once asked NPS: 0 sits at the same place on its scale as CSAT 1
        _response(MON + timedelta(hours=20), "delivered", "nps", 0, comment="nps zero", negative=True),
        _response(MON + timedelta(hours=21), "delivered", "csat", 5, comment="great", negative=False),
        _response(MON + timedelta(hours=22), "delivered", "csat", 4, comment="good", negative=False),
        _response(MON + timedelta(hours=23), "delivered", "csat", 3, comment="neutral"),
    ]
    conn.execute(Response.__table__.insert(), rows)  # type: ignore[attr-defined]
    conn.commit()
    texts = [v.text for v in load_report_inputs(conn, W, timezone=TZ, stages=STAGES).verbatims]
    assert texts == ["nps zero", "worst", "bad5", "bad4", "bad3", "great", "good"]


def test_latest_answer_week(conn: Connection) -> None:
    """The demo's week is the week of the newest answer; none without answers."""
    assert latest_answer_week(conn, TZ) is None
    _fill(conn)
    assert latest_answer_week(conn, TZ) == W
