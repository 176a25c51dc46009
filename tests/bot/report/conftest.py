"""Fixtures of the weekly-report tests: a realistic, seeded set of aggregated inputs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows.report import (
    EscalationCounts,
    FunnelCount,
    OverdueItem,
    ReportInputs,
    ScoreCount,
    StageRef,
    TopicCount,
    VerbatimRow,
    weeks_ending,
)
from flows.scales import Metric

STAGES = [
    StageRef(
        key="order_confirmed", metric=Metric.CES, labels={"en": "Order placed", "it": "Ordine effettuato"}
    ),
    StageRef(key="delivered", metric=Metric.CSAT, labels={"en": "Delivery", "it": "Consegna"}),
    StageRef(key="first_use", metric=Metric.NPS, labels={"en": "First use", "it": "Primo utilizzo"}),
    StageRef(key="ticket_closed", metric=Metric.CES, labels={"en": "Support ticket", "it": "Assistenza"}),
    StageRef(key="repurchase", metric=Metric.NPS, labels={"en": "Repurchase", "it": "Riacquisto"}),
]

# Score weights per stage (index = score - low), shaped so "delivered" is the weakest touchpoint.
_WEIGHTS = {
    "order_confirmed": [1, 1, 2, 4, 10, 25, 30],
    "delivered": [8, 7, 10, 30, 30],
    "first_use": [1, 1, 1, 1, 2, 3, 5, 10, 16, 28, 32],
    "ticket_closed": [4, 4, 6, 10, 16, 25, 30],
    "repurchase": [1, 1, 1, 1, 1, 2, 4, 10, 18, 30, 31],
}
_VOLUME = {"order_confirmed": 140, "delivered": 120, "first_use": 70, "ticket_closed": 35, "repurchase": 25}


def sample_inputs(week: str = "2026-W47", seed: int = 7, weeks: int = 11) -> ReportInputs:
    """Return eleven weeks (an 8-week trend with rolling values) of plausible data ending with ``week``."""
    rnd = random.Random(seed)
    span = weeks_ending(week, weeks)
    scores: list[ScoreCount] = []
    funnel: list[FunnelCount] = []
    for i, w in enumerate(span):
        for stage in STAGES:
            low = stage.metric.low
            for lang, channel, share in (
                ("it", "telegram", 0.6),
                ("en", "telegram", 0.3),
                ("en", "rasa", 0.1),
            ):
                total = int(_VOLUME[stage.key] * share * rnd.uniform(0.7, 1.3))
                weights = list(_WEIGHTS[stage.key])
                if stage.key == "delivered" and i >= weeks - 3:
                    weights[0] += 6  # delivery gets worse lately
                hist: dict[int, int] = {}
                for s in rnd.choices(range(low, low + len(weights)), weights=weights, k=total):
                    hist[s] = hist.get(s, 0) + 1
                scores += [
                    ScoreCount(
                        week=w,
                        stage=stage.key,
                        metric=stage.metric,
                        language=lang,
                        channel=channel,
                        score=s,
                        count=c,
                    )
                    for s, c in sorted(hist.items())
                ]
                answered = total
                delivered = int(answered / rnd.uniform(0.35, 0.5))
                funnel.append(
                    FunnelCount(
                        week=w,
                        stage=stage.key,
                        language=lang,
                        channel=channel,
                        due=delivered + 12,
                        sent=delivered + 5,
                        delivered=delivered,
                        answered=answered,
                        responses=answered,
                        commented=answered // 3,
                        reasked=answered // 20,
                        opted_out=rnd.randint(0, 2),
                        unreachable=rnd.randint(0, 4),
                    )
                )
    last = span[-2]
    topics = [
        TopicCount(week=week, topic="late_delivery", count=14),
        TopicCount(week=week, topic="damaged", count=6),
        TopicCount(week=week, topic="support", count=4),
        TopicCount(week=week, topic="price", count=2),
        TopicCount(week=last, topic="late_delivery", count=9),
        TopicCount(week=last, topic="damaged", count=7),
        TopicCount(week=last, topic="refund", count=3),
    ]
    at = datetime(2026, 11, 19, 10, 0, tzinfo=UTC)
    verbatims = [
        VerbatimRow(
            stage="delivered",
            metric=Metric.CSAT,
            score=1,
            language="it",
            channel="telegram",
            text="Pacco arrivato con 5 giorni di ritardo e la scatola <rotta> & bagnata",
            answered_at=at,
            topics=["late_delivery", "damaged"],
        ),
        VerbatimRow(
            stage="ticket_closed",
            metric=Metric.CES,
            score=2,
            language="en",
            channel="telegram",
            text="Had to write three times before anyone answered",
            answered_at=at + timedelta(hours=3),
        ),
        VerbatimRow(
            stage="first_use",
            metric=Metric.NPS,
            score=3,
            language="it",
            channel="rasa",
            text="La moka perde dal filtro dopo una settimana",
            answered_at=at + timedelta(hours=5),
        ),
        VerbatimRow(
            stage="delivered",
            metric=Metric.CSAT,
            score=2,
            language="en",
            channel="telegram",
            text="Courier left it at the wrong door",
            answered_at=at + timedelta(hours=6),
        ),
        VerbatimRow(
            stage="first_use",
            metric=Metric.NPS,
            score=10,
            language="en",
            channel="telegram",
            text="Best coffee maker I've had, and it arrived in two days!",
            answered_at=at + timedelta(hours=7),
        ),
        VerbatimRow(
            stage="order_confirmed",
            metric=Metric.CES,
            score=7,
            language="it",
            channel="telegram",
            text="Ordine fatto in un minuto, facilissimo",
            answered_at=at + timedelta(hours=8),
        ),
    ]
    escalations = [
        EscalationCounts(
            week=week,
            opened=14,
            taken=13,
            resolved=11,
            overdue=2,
            take_seconds=[
                1800,
                3600,
                5400,
                7200,
                9000,
                10800,
                14400,
                20000,
                30000,
                40000,
                60000,
                90000,
                172800,
            ],
            resolve_seconds=[3600 * h for h in (4, 6, 8, 10, 20, 24, 30, 40, 48, 60, 90)],
            within_sla=11,
            sla_total=13,
            closing={"resolved": 8, "not_resolved": 2, "no_answer": 1},
            detractors_closed=8,
            detractors_recovered=5,
            overdue_items=[
                OverdueItem(
                    ref="E-1042",
                    stage="delivered",
                    priority="P1",
                    opened_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                ),
                OverdueItem(
                    ref="E-1047",
                    stage="ticket_closed",
                    priority="P2",
                    opened_at=datetime(2026, 11, 18, 15, 0, tzinfo=UTC),
                    taken=True,
                ),
            ],
        ),
        EscalationCounts(week=last, opened=10),
    ]
    return ReportInputs(
        week=week,
        timezone="Europe/Rome",
        stages=STAGES,
        weeks=span,
        scores=scores,
        funnel=funnel,
        topics=topics,
        verbatims=verbatims,
        escalations=escalations,
    )


@pytest.fixture
def sample() -> ReportInputs:
    """Eleven weeks of seeded aggregated inputs ending with 2026-W47."""
    return sample_inputs()


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's SQLite database (120 customers, seed 1, fixed dates); copy it before changing it."""
    from tests.bot.report.demo import make_demo

    return make_demo(tmp_path_factory.mktemp("demo") / "demo.db")
