"""The report's inputs are the same on SQLite and PostgreSQL for the same seeded rows (the queries
differ per dialect in places: escalation durations are computed by PostgreSQL, by Python on SQLite)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from flows.report import ReportInputs, StageRef, build_report, week_bounds_utc
from flows.scales import Metric
from storage.report_queries import load_report_inputs
from storage.tables import ClosingQuestion, Customer, Escalation, Response, SurveyInstance

PG_URL = os.environ.get("CXBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
WEEK = "2026-W44"  # summer time ends on its Sunday in Rome: a 169-hour week
TZ = "Europe/Rome"
STAGES = [StageRef(key="delivered", metric=Metric.CSAT), StageRef(key="first_use", metric=Metric.NPS)]
SCALES = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7), "unknown": (0, 99)}


def _rows(seed: int) -> dict[Any, list[dict[str, Any]]]:
    """Return seeded rows over the weeks the report reads, with the awkward cases mixed in."""
    rnd = random.Random(seed)
    start = week_bounds_utc(WEEK, TZ)[0]

    def at(days_before: float, days_after: float) -> datetime:
        return start + timedelta(seconds=rnd.uniform(-days_before * 86400, days_after * 86400))

    responses = []
    for i in range(1500):
        stage, metric = rnd.choice(
            [("delivered", "csat"), ("first_use", "nps"), ("x", "ces"), ("y", "unknown")]
        )
        low, high = SCALES[metric]
        responses.append(
            {
                "stage": rnd.choice([stage, stage, None]),
                "metric": metric,
                "score": rnd.choice([None, rnd.randint(low, high), rnd.randint(low, high)]),
                "comment": rnd.choice([None, "", "   ", "ok", f"text {i}"]),
                "negative": rnd.random() < 0.4,
                "topics": rnd.choice([[], ["late_delivery"], ["damaged", "late_delivery"], ["a", "a"], [""]]),
                "language": rnd.choice(["it", "en"]),
                "channel": rnd.choice(["telegram", "rasa"]),
                "answered_at": at(80, 8),
            }
        )
    surveys: list[dict[str, Any]] = []
    for i in range(1000):
        due = at(20, 8)
        sent = rnd.choice([None, due + timedelta(hours=rnd.uniform(0, 200))])
        delivered = rnd.choice([None, sent + timedelta(minutes=5) if sent else None])
        surveys.append(
            {
                "event_id": f"e{i}",
                "stage": rnd.choice(["delivered", "first_use"]),
                "metric": "csat",
                "status": rnd.choice(["answered", "sent", "scheduled", "cancelled", "skipped"]),
                "channel": rnd.choice(["telegram", None]),
                "language": rnd.choice(["it", None]),
                "placeholders": {},
                "reasks": rnd.randint(0, 2),
                "due_at": due,
                "sent_at": sent,
                "delivered_at": delivered,
                "answered_at": rnd.choice([None, due + timedelta(days=1)]),
                "created_at": due,
            }
        )
    customers = [
        {"id": f"c{i}", "language": rnd.choice(["it", "en"]), "timezone": TZ, "opted_out": True,
         "opted_out_at": at(20, 8), "created_at": start, "updated_at": start}
        for i in range(100)
    ]  # fmt: skip
    escalations = []
    closing = []
    for ident in range(1, 201):
        opened = at(20, 8)
        taken = rnd.choice(
            [None, opened + timedelta(seconds=rnd.uniform(0, 2e5), microseconds=rnd.randint(0, 10**6 - 1))]
        )
        resolved = rnd.choice([None, (taken or opened) + timedelta(seconds=rnd.uniform(0, 3e5))])
        if resolved is not None:  # one or two closing questions, the first maybe answered "no"
            asked = [resolved - timedelta(hours=30), resolved] if rnd.random() < 0.3 else [resolved]
            for k, when in enumerate(asked):
                answer = "no" if k < len(asked) - 1 else rnd.choice(["yes", "no", None])
                closing.append(
                    {"escalation_id": ident, "asked_at": when, "answer": answer,
                     "answered_at": when + timedelta(hours=rnd.uniform(0, 40)) if answer else None}
                )  # fmt: skip
        escalations.append(
            {"id": ident, "stage": "delivered", "priority": "P1",
             "status": "resolved" if resolved else "open",
             "metric": rnd.choice(["nps", "csat"]), "score": rnd.randint(0, 10), "texts": [], "topics": [],
             "opened_at": opened, "sla_due_at": rnd.choice([None, opened + timedelta(hours=24)]),
             "taken_at": taken, "resolved_at": resolved, "updated_at": opened,
             "closing_answer": rnd.choice(["resolved", "yes", "", None])}
        )  # fmt: skip
    return {
        Response: responses,
        SurveyInstance: surveys,
        Customer: customers,
        Escalation: escalations,
        ClosingQuestion: closing,
    }


def _inputs(conn: Connection) -> ReportInputs:
    SQLModel.metadata.create_all(conn)
    for table, rows in _rows(seed=11).items():
        conn.execute(table.__table__.insert(), rows)
    conn.commit()
    return load_report_inputs(conn, WEEK, timezone=TZ, stages=STAGES)


@pytest.fixture
def pg() -> Iterator[Connection]:
    """A connection to a private PostgreSQL schema (skipped when PostgreSQL is not reachable)."""
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            pass
    except Exception:
        engine.dispose()
        pytest.skip("PostgreSQL not reachable")
    schema = f"cxbot_report_backends_{uuid.uuid4().hex[:8]}"
    with engine.connect() as admin:
        admin.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.commit()
    try:
        with engine.connect() as raw:
            yield raw.execution_options(schema_translate_map={None: schema})
    finally:
        with engine.connect() as admin:
            admin.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.commit()
        engine.dispose()


def _sorted(raw: ReportInputs) -> dict[str, Any]:
    """Return ``raw`` as data, lists whose order SQL does not fix sorted."""
    data = raw.model_dump()
    for name in ("scores", "funnel", "topics"):
        data[name] = sorted(data[name], key=repr)
    for week in data["escalations"]:
        week["take_seconds"].sort()
        week["resolve_seconds"].sort()
    return data


@pytest.mark.postgres
def test_same_inputs_on_sqlite_and_postgresql(pg: Connection, tmp_path: Path) -> None:
    """Every figure of a DST week, seeded with blank comments, unknown metrics and no-score rows, matches."""
    engine = create_engine(f"sqlite:///{tmp_path / 'report.db'}")
    with engine.connect() as lite:
        on_sqlite = _inputs(lite)
    engine.dispose()
    on_postgres = _inputs(pg)
    assert on_sqlite.scores and on_sqlite.topics and on_sqlite.verbatims
    assert on_sqlite.escalations[-1].take_seconds and on_sqlite.escalations[-1].closing
    assert any(f.due and f.delivered and f.opted_out == 0 for f in on_sqlite.funnel)
    assert _sorted(on_postgres) == _sorted(on_sqlite)
    now = datetime(2027, 1, 4, tzinfo=UTC)
    assert build_report(on_postgres, now=now) == build_report(on_sqlite, now=now)
