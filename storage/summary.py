"""A quick per-stage summary (n, NPS, CSAT %, CES mean) computed in the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select

from storage.db import Database
from storage.tables import Escalation, OutboxMessage, Response


@dataclass(frozen=True)
class StageSummary:
    """Figures of one stage over all stored scores."""

    stage: str
    metric: str
    n: int
    high: int  # promoters (NPS 9–10), satisfied (CSAT 4–5), agree (CES 5–7)
    low: int  # detractors (NPS 0–6)
    mean: float

    @property
    def headline(self) -> str:
        """Return the metric's headline figure as text (NPS score, CSAT %, CES mean)."""
        if self.n == 0:
            return "—"
        if self.metric == "nps":
            return f"NPS {round(100 * (self.high - self.low) / self.n):+d}"
        if self.metric == "csat":
            return f"CSAT {100 * self.high / self.n:.0f}%"
        return f"CES {self.mean:.2f}/7"


def stage_summaries(db: Database) -> list[StageSummary]:
    """Return one summary per (stage, metric) with at least one score."""
    r = Response.__table__  # type: ignore[attr-defined]
    high = case(
        (r.c.metric == "nps", case((r.c.score >= 9, 1), else_=0)),
        (r.c.metric == "csat", case((r.c.score >= 4, 1), else_=0)),
        else_=case((r.c.score >= 5, 1), else_=0),
    )
    low = case((r.c.metric == "nps", case((r.c.score <= 6, 1), else_=0)), else_=0)
    statement = (
        select(
            r.c.stage,
            r.c.metric,
            func.count(r.c.score),
            func.coalesce(func.sum(high), 0),
            func.coalesce(func.sum(low), 0),
            func.coalesce(func.avg(r.c.score), 0.0),
        )
        .where(r.c.score.is_not(None))
        .group_by(r.c.stage, r.c.metric)
    )
    with db.read() as session:
        rows = session.connection().execute(statement).all()
    return [
        StageSummary(str(s), str(m), int(n), int(h), int(lo), float(mean)) for s, m, n, h, lo, mean in rows
    ]


@dataclass(frozen=True)
class Totals:
    """How many rows of each kind are stored (the demo's closing line)."""

    answers: int
    escalations: int
    messages: int


def totals(db: Database) -> Totals:
    """Return how many answers, escalations and outbox messages are stored."""
    tables: tuple[Any, ...] = (Response, Escalation, OutboxMessage)
    with db.read() as session:
        conn = session.connection()
        counts = [
            int(conn.execute(select(func.count()).select_from(t.__table__)).scalar() or 0) for t in tables
        ]
    return Totals(*counts)
