"""Fill the weekly report's :class:`flows.report.ReportInputs` with GROUP BY queries.

Week boundaries are computed in Python in the company's time zone and converted to UTC ranges;
SQL only compares timestamps with those bounds (no time zone functions), so the same queries run
on SQLite and PostgreSQL. Answers are aggregated in the database, one range-filtered GROUP BY per
week: score histograms per week × stage × metric × score (× language × channel for the report week
and the one before). Only small result sets reach Python: a few dozen verbatim candidates and the
week's escalations.

Definitions (per week, all timestamps in [start, end) of the ISO week in the company time zone):
- responses: answers with a score, by ``answered_at``; commented: those with non-blank text;
- due / sent / delivered: survey instances by ``due_at`` / ``sent_at`` / ``delivered_at`` (or
  ``sent_at`` when the channel reports no delivery; Telegram has no delivery receipts);
  answered: of the surveys delivered that week, those answered (so far) — a cohort, so the
  response rate answered ÷ delivered never exceeds 100 %;
  re-asked: sum of ``reasks`` of the surveys sent that week; unreachable: surveys due that week
  that were not sent before the week ended (no reachable chat), except cancelled/skipped ones;
- opt-outs: customers by ``opted_out_at`` (language of the customer, no stage or channel);
- themes: topics of negative responses with a comment;
- escalations: opened / taken / resolved by their timestamps; within SLA: of those whose SLA
  fell due that week, taken by then; overdue: not resolved by the end of the week with the SLA
  already past; closing-question answers and detractor recovery among those resolved that week.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, case, func, literal, or_, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from flows.report import (
    EscalationCounts,
    FunnelCount,
    OverdueItem,
    ReportInputs,
    ScoreCount,
    StageRef,
    TopicCount,
    VerbatimRow,
    WeeklyReport,
    build_report,
    input_weeks,
    shift_week,
    week_bounds_utc,
    week_of,
)
from flows.scales import Metric
from storage.tables import Customer, Escalation, Response, SurveyInstance

#: Closing-question answers that count a detractor as recovered.
RECOVERED_ANSWERS = ("resolved", "yes")
#: How many verbatim candidates of each sentiment are read.
VERBATIM_CANDIDATES = 20
#: Survey statuses that were never meant to be sent.
_NOT_SENDABLE = ("cancelled", "skipped")

_RESPONSES: Table = Response.__table__  # type: ignore[attr-defined]
_SURVEYS: Table = SurveyInstance.__table__  # type: ignore[attr-defined]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[attr-defined]
_ESCALATIONS: Table = Escalation.__table__  # type: ignore[attr-defined]


def _edges(weeks: Sequence[str], tz: str) -> list[datetime]:
    """Return the UTC boundaries of consecutive ``weeks``: len(weeks) + 1 instants."""
    bounds = [week_bounds_utc(w, tz) for w in weeks]
    return [start for start, _ in bounds] + [bounds[-1][1]]


def _bucket(column: Any, weeks: Sequence[str], edges: Sequence[datetime]) -> ColumnElement[Any]:
    """Return a CASE naming the week of ``column`` (callers filter to [edges[0], edges[-1]))."""
    whens = [(column < edges[i + 1], literal(week)) for i, week in enumerate(weeks)]
    return case(*whens, else_=literal(""))


def _in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _has_text(column: Any) -> ColumnElement[bool]:
    return and_(column.is_not(None), func.length(func.trim(column)) > 0)


def _positive(table: Table) -> ColumnElement[bool]:
    c = table.c
    return or_(
        and_(c.metric == Metric.NPS.value, c.score >= 9),
        and_(c.metric == Metric.CSAT.value, c.score >= 4),
        and_(c.metric == Metric.CES.value, c.score >= 5),
    )


def _negative(table: Table) -> ColumnElement[bool]:
    c = table.c
    return or_(
        and_(c.metric == Metric.NPS.value, c.score <= 6),
        and_(c.metric == Metric.CSAT.value, c.score <= 2),
        and_(c.metric == Metric.CES.value, c.score <= 3),
    )


# ---------------------------------------------------------------------------------------------
# Answers


def score_counts(
    conn: Connection, weeks: Sequence[str], tz: str, *, segment_weeks: int = 2
) -> tuple[list[ScoreCount], dict[tuple[str, str, str, str], tuple[int, int]]]:
    """Return score histograms of ``weeks`` and, per (week, stage, language, channel), (responses, commented).

    One grouped query per week with a range filter on ``answered_at`` (each row is read once; a
    per-row week CASE costs more than the grouping itself). The last ``segment_weeks`` weeks (the
    report week and the one before) are grouped by stage × metric × language × channel and
    has-comment × 100 + score (one integer key: PostgreSQL then hashes instead of sorting text
    keys); older weeks only by stage × metric × score (language and channel "" = all), as the trend
    needs no more.
    """
    r = _RESPONSES
    edges = _edges(weeks, tz)
    split = max(0, len(weeks) - segment_weeks)
    valid = {m.value for m in Metric}
    hist: dict[tuple[str, str, str, str, str, int], int] = {}
    answers: dict[tuple[str, str, str, str], tuple[int, int]] = {}

    def add(wk: str, stage: str, metric: str, language: str, channel: str, score: int, count: int) -> bool:
        if metric not in valid or not Metric(metric).in_range(score):
            return False
        key = (wk, stage, metric, language, channel, score)
        hist[key] = hist.get(key, 0) + count
        return True

    def week_filter(i: int) -> tuple[ColumnElement[bool], ...]:
        return (
            _in_range(r.c.answered_at, edges[i], edges[i + 1]),
            r.c.score.is_not(None),
            r.c.stage.is_not(None),
        )

    for i in range(split):
        older = select(r.c.stage, r.c.metric, r.c.score, func.count()).where(*week_filter(i))
        for stage, metric, score, count in conn.execute(older.group_by(r.c.stage, r.c.metric, r.c.score)):
            add(weeks[i], str(stage), str(metric), "", "", int(score), int(count))
    commented = case((_has_text(r.c.comment), 100), else_=0)
    for i in range(split, len(weeks)):
        inner = (
            select(r.c.stage, r.c.metric, r.c.language, r.c.channel, (commented + r.c.score).label("k"))
            .where(*week_filter(i))
            .subquery()
        )
        keys = (inner.c.stage, inner.c.metric, inner.c.language, inner.c.channel, inner.c.k)
        for stage, metric, language, channel, k, count in conn.execute(
            select(*keys, func.count()).group_by(*keys)
        ):
            with_text, score = divmod(int(k), 100)
            if not add(weeks[i], str(stage), str(metric), str(language), str(channel), score, int(count)):
                continue
            seg = (weeks[i], str(stage), str(language), str(channel))
            done, texts = answers.get(seg, (0, 0))
            answers[seg] = (done + int(count), texts + (int(count) if with_text else 0))
    scores = [
        ScoreCount(week=w, stage=s, metric=Metric(m), language=lang, channel=ch, score=sc, count=n)
        for (w, s, m, lang, ch, sc), n in sorted(hist.items())
    ]
    return scores, answers


# ---------------------------------------------------------------------------------------------
# Funnel


def _survey_counts(
    conn: Connection, column: str | ColumnElement[Any], week: str, tz: str
) -> dict[tuple[str, str, str], list[int]]:
    """Return [count, reasks, unreachable, answered] per (stage, language, channel), surveys by ``column``."""
    s = _SURVEYS
    start, end = week_bounds_utc(week, tz)
    unreachable = case(
        (
            and_(
                or_(s.c.sent_at.is_(None), s.c.sent_at >= end),
                s.c.status.not_in(_NOT_SENDABLE),
            ),
            1,
        ),
        else_=0,
    )
    lang = func.coalesce(s.c.language, "")
    channel = func.coalesce(s.c.channel, "")
    statement = (
        select(
            s.c.stage,
            lang,
            channel,
            func.count(),
            func.coalesce(func.sum(s.c.reasks), 0),
            func.coalesce(func.sum(unreachable), 0),
            func.coalesce(func.sum(case((s.c.answered_at.is_not(None), 1), else_=0)), 0),
        )
        .where(_in_range(s.c[column] if isinstance(column, str) else column, start, end))
        .group_by(s.c.stage, lang, channel)
    )
    return {
        (str(stage), str(la), str(ch)): [int(n), int(re), int(un), int(ans)]
        for stage, la, ch, n, re, un, ans in conn.execute(statement)
    }


def funnel_counts(
    conn: Connection,
    weeks: Sequence[str],
    tz: str,
    answers: dict[tuple[str, str, str, str], tuple[int, int]],
) -> list[FunnelCount]:
    """Return funnel rows for ``weeks`` (the report week and the one before)."""
    rows: list[FunnelCount] = []
    c = _CUSTOMERS
    for week in weeks:
        due = _survey_counts(conn, "due_at", week, tz)
        sent = _survey_counts(conn, "sent_at", week, tz)
        # a channel without delivery receipts: accepted by the platform counts as delivered
        delivered = _survey_counts(conn, func.coalesce(_SURVEYS.c.delivered_at, _SURVEYS.c.sent_at), week, tz)
        answered = {(s, la, ch): v for (w, s, la, ch), v in answers.items() if w == week}
        keys = set(due) | set(sent) | set(delivered) | set(answered)
        zero = [0, 0, 0, 0]
        for key in sorted(keys):
            stage, lang, channel = key
            rows.append(
                FunnelCount(
                    week=week,
                    stage=stage,
                    language=lang,
                    channel=channel,
                    due=due.get(key, zero)[0],
                    sent=sent.get(key, zero)[0],
                    delivered=delivered.get(key, zero)[0],
                    answered=delivered.get(key, zero)[3],
                    responses=answered.get(key, (0, 0))[0],
                    commented=answered.get(key, (0, 0))[1],
                    reasked=sent.get(key, zero)[1],
                    unreachable=due.get(key, zero)[2],
                )
            )
        start, end = week_bounds_utc(week, tz)
        opt_outs = (
            select(c.c.language, func.count())
            .where(_in_range(c.c.opted_out_at, start, end))
            .group_by(c.c.language)
        )
        rows += [
            FunnelCount(week=week, stage="", language=str(lang), channel="", opted_out=int(n))
            for lang, n in conn.execute(opt_outs)
        ]
    return rows


# ---------------------------------------------------------------------------------------------
# Comments


def topic_counts(conn: Connection, weeks: Sequence[str], tz: str) -> list[TopicCount]:
    """Return how many negative comments of each week mention each topic (JSON array expanded in SQL)."""
    r = _RESPONSES
    edges = _edges(weeks, tz)
    if conn.dialect.name == "postgresql":
        topics = func.json_array_elements_text(r.c.topics).table_valued("value").alias("t")
    else:
        topics = func.json_each(r.c.topics).table_valued("value").alias("t")
    inner = (
        select(_bucket(r.c.answered_at, weeks, edges).label("wk"), topics.c.value.label("topic"))
        .select_from(r.join(topics, true()))
        .where(
            _in_range(r.c.answered_at, edges[0], edges[-1]),
            r.c.negative.is_(True),
            _has_text(r.c.comment),
        )
        .subquery()
    )
    statement = select(inner.c.wk, inner.c.topic, func.count()).group_by(inner.c.wk, inner.c.topic)
    return [
        TopicCount(week=str(wk), topic=str(topic), count=int(n))
        for wk, topic, n in conn.execute(statement)
        if wk and topic
    ]


def _scale_position(table: Table) -> ColumnElement[Any]:
    """Return the score's place on its scale, 0 (lowest) … 1 (highest), to rank across metrics."""
    c = table.c
    return case(
        (c.metric == Metric.NPS.value, c.score / 10.0),
        (c.metric == Metric.CSAT.value, (c.score - 1) / 4.0),
        else_=(c.score - 1) / 6.0,
    )


def verbatim_candidates(
    conn: Connection, week: str, tz: str, limit: int = VERBATIM_CANDIDATES, per_stage: int = 5
) -> list[VerbatimRow]:
    """Return commented answers of ``week`` to quote: per sentiment the ``per_stage`` most extreme of
    each stage (newest first among equals), at most ``limit``; so every stage can be heard."""
    r = _RESPONSES
    start, end = week_bounds_utc(week, tz)
    columns = (
        r.c.stage,
        r.c.metric,
        r.c.score,
        r.c.language,
        r.c.channel,
        r.c.comment,
        r.c.answered_at,
        r.c.topics,
    )
    base = and_(
        _in_range(r.c.answered_at, start, end),
        r.c.score.is_not(None),
        r.c.stage.is_not(None),
        _has_text(r.c.comment),
    )
    position = _scale_position(r)
    queries = []
    for band, worst_first in ((_negative(r), True), (_positive(r), False)):
        extreme = position.asc() if worst_first else position.desc()
        rank = func.row_number().over(partition_by=r.c.stage, order_by=(extreme, r.c.answered_at.desc()))
        ranked = select(*columns, rank.label("rank"), position.label("position")).where(base, band).subquery()
        again = ranked.c.position.asc() if worst_first else ranked.c.position.desc()
        queries.append(
            select(*(ranked.c[col.name] for col in columns))
            .where(ranked.c.rank <= per_stage)
            .order_by(ranked.c.rank, again, ranked.c.answered_at.desc())
            .limit(limit)
        )
    out: list[VerbatimRow] = []
    for statement in queries:
        for stage, metric, score, lang, channel, comment, answered_at, topics in conn.execute(statement):
            if metric not in {m.value for m in Metric}:
                continue
            out.append(
                VerbatimRow(
                    stage=str(stage),
                    metric=Metric(metric),
                    score=int(score),
                    language=str(lang),
                    channel=str(channel),
                    text=str(comment),
                    answered_at=answered_at,
                    topics=[str(t) for t in (topics or [])],
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Escalations


def _count(conn: Connection, *where: ColumnElement[bool]) -> int:
    value = conn.execute(select(func.count()).select_from(_ESCALATIONS).where(*where)).scalar_one()
    return int(value)


def _seconds(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> list[float]:
    return [(b - a).total_seconds() for a, b in pairs if a is not None and b is not None]


def escalation_counts(conn: Connection, week: str, tz: str, *, overdue_limit: int = 20) -> EscalationCounts:
    """Return the closing-the-loop figures of ``week`` (escalation rows are few; durations come back)."""
    e = _ESCALATIONS
    start, end = week_bounds_utc(week, tz)
    taken = conn.execute(select(e.c.opened_at, e.c.taken_at).where(_in_range(e.c.taken_at, start, end))).all()
    resolved = conn.execute(
        select(e.c.opened_at, e.c.resolved_at, e.c.closing_answer, e.c.metric, e.c.score).where(
            _in_range(e.c.resolved_at, start, end)
        )
    ).all()
    closing: dict[str, int] = {}
    detractors = recovered = 0
    for _, _, answer, metric, score in resolved:
        name = str(answer) if answer else "no_answer"
        closing[name] = closing.get(name, 0) + 1
        if metric == Metric.NPS.value and score is not None and int(score) <= 6:
            detractors += 1
            recovered += 1 if answer in RECOVERED_ANSWERS else 0
    open_at_end = and_(
        e.c.opened_at < end,
        or_(e.c.resolved_at.is_(None), e.c.resolved_at >= end),
        e.c.sla_due_at.is_not(None),
        e.c.sla_due_at < end,
    )
    overdue_rows = conn.execute(
        select(e.c.id, e.c.stage, e.c.priority, e.c.opened_at, e.c.taken_at)
        .where(open_at_end)
        .order_by(e.c.opened_at)
        .limit(overdue_limit)
    ).all()
    sla_in_week = _in_range(e.c.sla_due_at, start, end)
    return EscalationCounts(
        week=week,
        opened=_count(conn, _in_range(e.c.opened_at, start, end)),
        taken=len(taken),
        resolved=len(resolved),
        overdue=_count(conn, open_at_end),
        take_seconds=_seconds((a, b) for a, b in taken),
        resolve_seconds=_seconds((row[0], row[1]) for row in resolved),
        within_sla=_count(conn, sla_in_week, e.c.taken_at.is_not(None), e.c.taken_at <= e.c.sla_due_at),
        sla_total=_count(conn, sla_in_week),
        closing=closing,
        detractors_closed=detractors,
        detractors_recovered=recovered,
        overdue_items=[
            OverdueItem(
                ref=f"E-{ident}",
                stage=str(stage or ""),
                priority=str(priority),
                opened_at=opened_at,
                taken=taken_at is not None and taken_at < end,
            )
            for ident, stage, priority, opened_at, taken_at in overdue_rows
        ],
    )


# ---------------------------------------------------------------------------------------------
# Entry points


def load_report_inputs(
    conn: Connection,
    week: str,
    *,
    timezone: str,
    stages: Sequence[StageRef],
    trend_weeks: int = 8,
) -> ReportInputs:
    """Return everything the weekly report of ``week`` needs, aggregated in the database."""
    weeks = input_weeks(week, trend_weeks)
    recent = [shift_week(week, -1), week]
    scores, answers = score_counts(conn, weeks, timezone)
    return ReportInputs(
        week=week,
        timezone=timezone,
        stages=list(stages),
        weeks=weeks,
        scores=scores,
        funnel=funnel_counts(conn, recent, timezone, answers),
        topics=topic_counts(conn, recent, timezone),
        verbatims=verbatim_candidates(conn, week, timezone),
        escalations=[escalation_counts(conn, w, timezone) for w in recent],
    )


def latest_answer_week(conn: Connection, timezone: str) -> str | None:
    """Return the week of the newest stored answer (None when there is none)."""
    newest = conn.execute(select(func.max(_RESPONSES.c.answered_at))).scalar_one_or_none()
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite's max() over the column returns its stored text
        newest = datetime.fromisoformat(newest)
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=UTC)
    return week_of(newest, timezone)


def last_complete_week(now: datetime, timezone: str) -> str:
    """Return the ISO week before the one ``now`` falls in (the week a Monday summary covers)."""
    return shift_week(week_of(now, timezone), -1)


def weekly_report(
    conn: Connection,
    *,
    now: datetime,
    timezone: str,
    stages: Sequence[StageRef],
    week: str | None = None,
    language: str = "en",
    min_n: int = 30,
) -> WeeklyReport:
    """Return the weekly report of ``week`` (default: the last complete week before ``now``)."""
    target = week or last_complete_week(now, timezone)
    raw = load_report_inputs(conn, target, timezone=timezone, stages=stages)
    return build_report(raw, language=language, min_n=min_n, now=now)


__all__ = [
    "escalation_counts",
    "funnel_counts",
    "last_complete_week",
    "latest_answer_week",
    "load_report_inputs",
    "score_counts",
    "topic_counts",
    "verbatim_candidates",
    "weekly_report",
]
