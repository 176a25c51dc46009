"""Fill the weekly report's :class:`flows.report.ReportInputs` with GROUP BY queries.

Week boundaries are computed in Python in the company's time zone and converted to UTC ranges;
SQL only compares timestamps with those bounds (no time zone functions), so the same queries run
on SQLite and PostgreSQL. Answers are grouped in the database per week by stage, metric, language,
channel, score, negative words and topics (``storage.report_cache``: the weeks that have ended are
kept counted in ``report_cache``, so a report counts only the weeks still open); score histograms,
the funnel's answer counts and the themes are summed from those groups here. Funnel and escalation
counts are counted per week inside one grouped statement each (``count(*) FILTER``). Only small
result sets reach Python: answer groups, a few dozen verbatim candidates, the week's escalation
durations (computed by PostgreSQL; by Python on SQLite) and the overdue list.

Definitions (per week, all timestamps in [start, end) of the ISO week in the company time zone;
the report's ``definitions`` say the same in one line each):
- responses: answers with a score, by ``answered_at``; commented: those with typed text (a
  tapped reason chip is stored in ``reason``, not in ``comment``);
- due / sent / delivered: survey instances by ``due_at`` / ``sent_at`` / ``delivered_at`` (or
  ``sent_at`` when the channel reports no delivery; Telegram has no delivery receipts);
  answered: of the surveys delivered that week, those answered (so far) — a cohort, so the
  response rate answered ÷ delivered never exceeds 100 %;
  re-asked: sum of ``reasks`` of the surveys sent that week; unreachable: surveys due that week
  and never sent, by reason (no channel, blocked, opted out, expired); sent late: sent that week
  but due in an earlier one; due = sent that week + sent later + unreachable + cancelled + pending;
- opt-outs: customers by ``opted_out_at`` (language of the customer, no stage or channel);
- themes: topics of negative answers (negative score band, or negative words), praise topics
  apart; what works: praise topics of any answer; both per stage too;
- escalations: opened / taken by their timestamps; resolved: closing questions asked that week
  (each resolution once); within SLA: of those whose SLA fell due that week, taken by then;
  overdue: not resolved by the end of the week with the SLA already past; closing answers of the
  week's resolutions (given by the end of the week); detractor recovery: escalations of NPS
  detractors (0–6) resolved that week whose last closing answer given by the end of the week is
  "yes" ÷ those escalations (no answer yet: not recovered).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Float,
    Table,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from flows.report import (
    UNREACHABLE_REASONS,
    EscalationCounts,
    FunnelCount,
    OverdueItem,
    ReportInputs,
    ScoreCount,
    StageRef,
    ThemeBand,
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
from flows.topics import POSITIVE_TOPICS
from storage.report_cache import (
    SCORES,
    SEGMENTS,
    TOPICS,
    CacheUse,
    WeekCounts,
    answer_counts,
    has_text,
    negative_band,
)
from storage.tables import (
    ChannelIdentity,
    ClosingQuestion,
    Customer,
    DueWork,
    Escalation,
    Response,
    SurveyInstance,
)

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
_CLOSING: Table = ClosingQuestion.__table__  # type: ignore[attr-defined]
_DUE_WORK: Table = DueWork.__table__  # type: ignore[attr-defined]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[attr-defined]
_METRICS = {m.value for m in Metric}


def _edges(weeks: Sequence[str], tz: str) -> list[datetime]:
    """Return the UTC boundaries of consecutive ``weeks``: len(weeks) + 1 instants."""
    bounds = [week_bounds_utc(w, tz) for w in weeks]
    return [start for start, _ in bounds] + [bounds[-1][1]]


def _in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _positive(table: Table) -> ColumnElement[bool]:
    c = table.c
    return or_(
        and_(c.metric == Metric.NPS.value, c.score >= 9),
        and_(c.metric == Metric.CSAT.value, c.score >= 4),
        and_(c.metric == Metric.CES.value, c.score >= 5),
    )


# ---------------------------------------------------------------------------------------------
# Answers (counted per week by storage.report_cache: cached weeks read, open ones counted)


def score_counts(
    counts: Mapping[str, WeekCounts], weeks: Sequence[str], *, segment_weeks: int = 2
) -> tuple[list[ScoreCount], dict[tuple[str, str, str, str], tuple[int, int]]]:
    """Return score histograms of ``weeks`` and, per (week, stage, language, channel), (responses, commented).

    The last ``segment_weeks`` weeks (the report week and the one before) by stage × metric ×
    language × channel × score; older weeks only by stage × metric × score (language and channel
    "" = all), as the trend needs no more. Scores off their metric's scale are left out.
    """
    split = max(0, len(weeks) - segment_weeks)
    hist: dict[tuple[str, str, str, str, str, int], int] = {}
    answers: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for i, week in enumerate(weeks):
        segmented = i >= split
        for g in counts[week].scores if week in counts else ():
            if g.metric not in _METRICS or not Metric(g.metric).in_range(g.score):
                continue
            segment = (g.language, g.channel) if segmented else ("", "")
            key = (week, g.stage, g.metric, *segment, g.score)
            hist[key] = hist.get(key, 0) + g.answers
            if segmented:
                seg = (week, g.stage, g.language, g.channel)
                done, with_text = answers.get(seg, (0, 0))
                answers[seg] = (done + g.answers, with_text + g.commented)
    scores = [
        ScoreCount(week=w, stage=s, metric=Metric(m), language=lang, channel=ch, score=sc, count=n)
        for (w, s, m, lang, ch, sc), n in sorted(hist.items())
    ]
    return scores, answers


# ---------------------------------------------------------------------------------------------
# Funnel


#: Skip reasons that mean the customer said no to surveys (a skip without a reason: opted out in chat).
_OPTED_OUT_SKIPS = ("opted_out", "no_consent")


def _unreachable_filters() -> dict[str, ColumnElement[bool]]:
    """Return, per reason, which surveys were due and never sent (so far).

    no_channel / blocked: its timer waits for a chat (``due_work`` "waiting"): blocked when one of
    the customer's chats blocked the bot, else no channel; opted_out: skipped because the customer
    opted out (or gave no consent); expired: skipped because it could not go out before its
    deadline (quiet hours, caps, an open ticket…), or expired unsent.
    """
    s, w, i = _SURVEYS, _DUE_WORK, _IDENTITIES
    never_sent = s.c.sent_at.is_(None)
    waiting = (
        select(w.c.id)
        .where(w.c.survey_id == s.c.id, w.c.kind == "survey_due", w.c.status == "waiting")
        .exists()
    )
    blocked = select(i.c.id).where(i.c.customer_id == s.c.customer_id, i.c.blocked_at.is_not(None)).exists()
    opted = or_(s.c.reason.is_(None), s.c.reason.in_(_OPTED_OUT_SKIPS))
    return {
        "no_channel": and_(never_sent, s.c.status.in_(("scheduled", "queued")), waiting, ~blocked),
        "blocked": and_(never_sent, s.c.status.in_(("scheduled", "queued")), waiting, blocked),
        "opted_out": and_(never_sent, s.c.status == "skipped", opted),
        "expired": and_(never_sent, or_(and_(s.c.status == "skipped", ~opted), s.c.status == "expired")),
    }


def _grouped_counts(
    conn: Connection,
    found: ColumnElement[bool],
    measures: Sequence[tuple[str, Any]],
    weeks: Sequence[str],
) -> dict[tuple[str, str, str, str], dict[str, int]]:
    """Return {measure: count} per (week, stage, language, channel): one grouped statement whose
    columns are ``measures`` (name, aggregate), the aggregates already restricted to one week each
    (a list per week, in ``weeks`` order); ``found`` selects the rows so that an index can serve it."""
    s = _SURVEYS
    lang = func.coalesce(s.c.language, "")
    channel = func.coalesce(s.c.channel, "")
    per_week = len(measures) // len(weeks)
    statement = (
        select(s.c.stage, lang, channel, *(m for _, m in measures))
        .where(found)
        .group_by(s.c.stage, lang, channel)
    )
    out: dict[tuple[str, str, str, str], dict[str, int]] = {}
    for stage, la, ch, *counts in conn.execute(statement):
        for k, week in enumerate(weeks):
            chunk = measures[k * per_week : (k + 1) * per_week]
            values = {
                name: int(v or 0)
                for (name, _), v in zip(chunk, counts[k * per_week : (k + 1) * per_week], strict=True)
            }
            if any(values.values()):
                out[(week, str(stage), str(la), str(ch))] = values
    return out


def funnel_counts(
    conn: Connection,
    weeks: Sequence[str],
    tz: str,
    answers: dict[tuple[str, str, str, str], tuple[int, int]],
) -> list[FunnelCount]:
    """Return funnel rows for ``weeks`` (the report week and the one before).

    Surveys are grouped by the language and channel they were sent in ("" when never sent).
    """
    s = _SURVEYS
    c = _CUSTOMERS
    edges = _edges(weeks, tz)
    start, end = edges[0], edges[-1]
    cancelled = s.c.status == "cancelled"  # skipped ones are unreachable (opted out / expired)
    unreachable = _unreachable_filters()
    due_measures: list[tuple[str, Any]] = []
    sent_measures: list[tuple[str, Any]] = []
    delivered_measures: list[tuple[str, Any]] = []
    delivered_at = func.coalesce(s.c.delivered_at, s.c.sent_at)
    for i in range(len(weeks)):
        due_week = _in_range(s.c.due_at, edges[i], edges[i + 1])
        due_measures += [
            ("due", func.count().filter(due_week)),
            ("due_sent", func.count().filter(due_week, s.c.sent_at < edges[i + 1])),
            ("due_sent_later", func.count().filter(due_week, s.c.sent_at >= edges[i + 1])),
            ("due_cancelled", func.count().filter(due_week, s.c.sent_at.is_(None), cancelled)),
            *(
                (f"unreachable_{why}", func.count().filter(due_week, unreachable[why]))
                for why in UNREACHABLE_REASONS
            ),
        ]
        sent_week = _in_range(s.c.sent_at, edges[i], edges[i + 1])
        sent_measures += [
            ("sent", func.count().filter(sent_week)),
            ("sent_late", func.count().filter(sent_week, s.c.due_at < edges[i])),
            ("reasked", func.coalesce(func.sum(s.c.reasks).filter(sent_week), 0)),
        ]
        delivered_week = _in_range(delivered_at, edges[i], edges[i + 1])
        delivered_measures += [
            ("delivered", func.count().filter(delivered_week)),
            ("answered", func.count().filter(delivered_week, s.c.answered_at.is_not(None))),
        ]
    due = _grouped_counts(conn, _in_range(s.c.due_at, start, end), due_measures, weeks)
    sent = _grouped_counts(conn, _in_range(s.c.sent_at, start, end), sent_measures, weeks)
    # a channel without delivery receipts: accepted by the platform counts as delivered; the
    # range is spelt out per column so the delivered_at and sent_at indexes serve it
    delivered = _grouped_counts(
        conn,
        or_(
            _in_range(s.c.delivered_at, start, end),
            and_(s.c.delivered_at.is_(None), _in_range(s.c.sent_at, start, end)),
        ),
        delivered_measures,
        weeks,
    )
    opt_outs = (
        select(
            c.c.language,
            *(
                func.count().filter(_in_range(c.c.opted_out_at, edges[i], edges[i + 1]))
                for i in range(len(weeks))
            ),
        )
        .where(_in_range(c.c.opted_out_at, start, end))
        .group_by(c.c.language)
    )
    opted: dict[str, list[int]] = {str(lang): [int(n) for n in ns] for lang, *ns in conn.execute(opt_outs)}
    rows: list[FunnelCount] = []
    for week in weeks:
        keys = {key[1:] for key in (*due, *sent, *delivered) if key[0] == week}
        keys |= {(st, la, ch) for (w, st, la, ch) in answers if w == week}
        for stage, lang, channel in sorted(keys):
            key = (week, stage, lang, channel)
            found = {**due.get(key, {}), **sent.get(key, {}), **delivered.get(key, {})}
            responses, commented = answers.get(key, (0, 0))
            rows.append(
                FunnelCount(
                    week=week,
                    stage=stage,
                    language=lang,
                    channel=channel,
                    responses=responses,
                    commented=commented,
                    unreachable=sum(found.get(f"unreachable_{why}", 0) for why in UNREACHABLE_REASONS),
                    **found,
                )
            )
        rows += [
            FunnelCount(week=week, stage="", language=lang, channel="", opted_out=ns[weeks.index(week)])
            for lang, ns in opted.items()
            if ns[weeks.index(week)]
        ]
    return rows


# ---------------------------------------------------------------------------------------------
# Comments


def topic_counts(counts: Mapping[str, WeekCounts], weeks: Sequence[str]) -> list[TopicCount]:
    """Return, per week and stage, how many answers are about each topic.

    Complaints (band "negative"): the topics of negative answers — a score in the negative band
    (NPS 0–6, CSAT 1–2, CES 1–3) or words read as negative; praise (band "positive", what works):
    every answer naming a praise topic, whatever its score. Topics come from the typed words and
    from the tapped reason chip (its topic); a topic named twice by one answer counts twice.
    """
    found: dict[tuple[str, str, str, ThemeBand], int] = {}
    for week in weeks:
        for g in counts[week].topics if week in counts else ():
            for name in g.topics:
                band: ThemeBand = "positive" if name in POSITIVE_TOPICS else "negative"
                n = g.answers if band == "positive" else g.negative
                if n:
                    key = (week, g.stage, name, band)
                    found[key] = found.get(key, 0) + n
    return [
        TopicCount(week=week, stage=stage, topic=topic, band=band, count=n)
        for (week, stage, topic, band), n in sorted(found.items())
    ]


def verbatim_candidates(
    conn: Connection, week: str, tz: str, limit: int = VERBATIM_CANDIDATES, per_stage: int = 5
) -> list[VerbatimRow]:
    """Return commented answers of ``week`` to quote: per sentiment the ``per_stage`` most extreme of
    each stage (newest first among equals), at most ``limit``; so every stage can be heard.

    Two statements rather than ranking every commented answer of the week (a sort of them all,
    on disk beyond a few hundred thousand): the commented answers are counted per stage × score;
    the scores that can hold a stage's ``per_stage`` most extreme are picked here; only those
    are read, the newest ``per_stage`` of each (a LIMIT per stage × score, off the
    ``answered_at`` index), and ranked here as SQL's ``row_number()`` would.
    """
    r = _RESPONSES
    start, end = week_bounds_utc(week, tz)
    commented = (
        _in_range(r.c.answered_at, start, end),
        r.c.score.is_not(None),
        r.c.stage.is_not(None),
        has_text(r.c.comment),
    )
    negative = negative_band(r)
    band = case((negative, 0), else_=1)
    counted = (
        select(band, r.c.stage, r.c.metric, r.c.score, func.count())
        .where(*commented, or_(negative, _positive(r)))
        .group_by(band, r.c.stage, r.c.metric, r.c.score)
    )
    groups: dict[tuple[int, str], list[tuple[float, str, int, int]]] = {}
    valid = {m.value for m in Metric}
    for band_no, stage, metric, score, count in conn.execute(counted):
        if metric in valid:
            groups.setdefault((int(band_no), str(stage)), []).append(
                (_extreme(int(band_no), Metric(metric), int(score)), str(metric), int(score), int(count))
            )
    wanted: list[tuple[int, str, str, int]] = []  # (band, stage, metric, score) worth reading
    for (band_no, stage), found in groups.items():
        found.sort()
        seen, cutoff = 0, 0.0
        for extreme, metric, score, count in found:
            if seen >= per_stage and extreme > cutoff:
                break
            wanted.append((band_no, stage, metric, score))
            seen += count
            cutoff = extreme  # ties with the last group needed are read too
    if not wanted:
        return []
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
    newest = [
        select(
            select(literal(band_no).label("band"), *columns)
            .where(*commented, r.c.stage == stage, r.c.metric == metric, r.c.score == score)
            .order_by(r.c.answered_at.desc())
            .limit(per_stage)
            .subquery()
        )
        for band_no, stage, metric, score in wanted
    ]
    # (extreme, newest first, row) per band × stage: the order of SQL's row_number() over them
    ranked: dict[tuple[int, str], list[tuple[float, float, Any]]] = {}
    for row in conn.execute(union_all(*newest)):
        band_no = int(row[0])
        order = (_extreme(band_no, Metric(row[2]), int(row[3])), -row[7].timestamp())
        ranked.setdefault((band_no, str(row[1])), []).append((*order, row))
    chosen: list[tuple[int, int, float, float, Any]] = []
    for (band_no, _stage), rows in ranked.items():
        rows.sort(key=lambda item: item[:2])
        for rank, (extreme, newest_first, row) in enumerate(rows[:per_stage], start=1):
            chosen.append((band_no, rank, extreme, newest_first, row))
    chosen.sort(key=lambda item: item[:4])
    out: list[VerbatimRow] = []
    taken = [0, 0]
    for band_no, _rank, _extreme_at, _newest, row in chosen:
        if taken[band_no] >= limit:
            continue
        taken[band_no] += 1
        _, stage, metric, score, lang, channel, comment, answered_at, topics = row
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


def _extreme(band: int, metric: Metric, score: int) -> float:
    """Return how far down the quote order a score comes: negative answers worst first (band 0),
    positive ones best first (band 1); by the score's place on its scale (0 lowest … 1 highest)."""
    position = (score - metric.low) / (metric.high - metric.low)
    return position if band == 0 else -position


# ---------------------------------------------------------------------------------------------
# Escalations


def _seconds_array(since: Any, until: Any, where: ColumnElement[bool]) -> Any:
    """Return PostgreSQL's array of the seconds from ``since`` to ``until`` of the rows ``where``
    (both set); ``extract`` of an interval is exact to the microsecond, as ``timedelta`` is."""
    seconds = cast(extract("epoch", until - since), Float)
    return func.array_agg(seconds).filter(where, since.is_not(None), until.is_not(None))


def _durations(conn: Connection, since: Any, until: Any, where: ColumnElement[bool]) -> list[float]:
    """Return the seconds from ``since`` to ``until`` of the rows ``where`` (both set), subtracted
    by Python (SQLite stores text timestamps)."""
    both = and_(where, since.is_not(None), until.is_not(None))
    return [(b - a).total_seconds() for a, b in conn.execute(select(since, until).where(both)).all()]


def escalation_counts(conn: Connection, week: str, tz: str, *, overdue_limit: int = 20) -> EscalationCounts:
    """Return the closing-the-loop figures of ``week`` (counted in SQL; durations and the overdue
    list come back)."""
    e = _ESCALATIONS
    q = _CLOSING
    start, end = week_bounds_utc(week, tz)
    taken_in_week = _in_range(e.c.taken_at, start, end)
    detractor = and_(e.c.metric == Metric.NPS.value, e.c.score.is_not(None), e.c.score <= 6)
    # each resolution of the week asked the closing question once: one row each, never overwritten;
    # answers count as given by the end of the week, so a past week's figures stay as reported
    answered_by_end = case((q.c.answered_at < end, q.c.answer), else_=None)
    asked = conn.execute(
        select(q.c.escalation_id, q.c.asked_at, answered_by_end, e.c.opened_at, detractor)
        .select_from(q.join(e, e.c.id == q.c.escalation_id))
        .where(_in_range(q.c.asked_at, start, end))
    ).all()
    closing: dict[str, int] = {}
    resolve_seconds: list[float] = []
    detractor_ids: set[int] = set()
    for escalation_id, asked_at, answer, opened_at, is_detractor in asked:
        name = str(answer) if answer else "no_answer"
        closing[name] = closing.get(name, 0) + 1
        resolve_seconds.append((asked_at - opened_at).total_seconds())
        if is_detractor:
            detractor_ids.add(int(escalation_id))
    last_answer: dict[int, tuple[datetime, int, str]] = {}
    if detractor_ids:
        answers = conn.execute(
            select(q.c.escalation_id, q.c.answered_at, q.c.id, q.c.answer).where(
                q.c.escalation_id.in_(sorted(detractor_ids)),
                q.c.answer.is_not(None),
                q.c.answered_at < end,
            )
        )
        for escalation_id, answered_at, ident, answer in answers:
            order = (answered_at, int(ident), str(answer))
            if int(escalation_id) not in last_answer or order > last_answer[int(escalation_id)]:
                last_answer[int(escalation_id)] = order
    detractors = len(detractor_ids)
    recovered = sum(
        1 for ident in detractor_ids if ident in last_answer and last_answer[ident][2] in RECOVERED_ANSWERS
    )
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
    counts: list[Any] = [
        func.count().filter(_in_range(e.c.opened_at, start, end)),
        func.count().filter(taken_in_week),
        func.count().filter(open_at_end),
        func.count().filter(sla_in_week, e.c.taken_at.is_not(None), e.c.taken_at <= e.c.sla_due_at),
        func.count().filter(sla_in_week),
    ]
    in_database = conn.dialect.name == "postgresql"  # durations too, as an array: no timestamps sent
    if in_database:
        counts.append(_seconds_array(e.c.opened_at, e.c.taken_at, taken_in_week))
    row = conn.execute(select(*counts)).one()
    opened, taken, overdue, within_sla, sla_total = (int(n) for n in row[:5])
    if in_database:
        take_seconds = [float(v) for v in row[5] or ()]
    else:
        take_seconds = _durations(conn, e.c.opened_at, e.c.taken_at, taken_in_week)
    return EscalationCounts(
        week=week,
        opened=opened,
        taken=taken,
        resolved=len(asked),
        overdue=overdue,
        take_seconds=take_seconds,
        resolve_seconds=resolve_seconds,
        within_sla=within_sla,
        sla_total=sla_total,
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
    now: datetime | None = None,
    cache: bool = True,
    on_cache: Callable[[CacheUse], None] | None = None,
) -> ReportInputs:
    """Return everything the weekly report of ``week`` needs, aggregated in the database.

    Answers of cached weeks come from ``report_cache``; with ``now``, weeks ended by then and not
    cached yet are counted and stored there (``storage.report_cache.answer_counts``; give a
    connection outside a transaction). ``cache=False`` counts every week from ``responses``.
    ``on_cache`` hears what was read, built and counted.
    """
    weeks = input_weeks(week, trend_weeks)
    recent = [shift_week(week, -1), week]
    wanted = {w: {SEGMENTS, TOPICS} if w in recent else {SCORES} for w in weeks}
    counts, use = answer_counts(conn, wanted, timezone, now=now, cache=cache)
    if on_cache is not None:
        on_cache(use)
    scores, answers = score_counts(counts, weeks)
    return ReportInputs(
        week=week,
        timezone=timezone,
        stages=list(stages),
        weeks=weeks,
        scores=scores,
        funnel=funnel_counts(conn, recent, timezone, answers),
        topics=topic_counts(counts, recent),
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
    on_cache: Callable[[CacheUse], None] | None = None,
) -> WeeklyReport:
    """Return the weekly report of ``week`` (default: the last complete week before ``now``).

    Weeks ended by ``now`` are taken from, or stored into, the report cache (see
    ``load_report_inputs``); ``on_cache`` hears how.
    """
    target = week or last_complete_week(now, timezone)
    raw = load_report_inputs(conn, target, timezone=timezone, stages=stages, now=now, on_cache=on_cache)
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
