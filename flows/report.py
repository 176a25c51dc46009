"""The managers' weekly summary (CX_METHOD §7): its inputs, its model and a pure builder.

The database aggregates (``storage/report_queries.py`` fills :class:`ReportInputs` with GROUP BY
queries: score histograms, funnel counts, topic counts, a few verbatim candidates, escalation
durations); :func:`build_report` turns those counts into figures with intervals, changes and the
journey map; ``bot/report/`` renders the resulting :class:`WeeklyReport`. No I/O, no clock here.

Weeks are ISO weeks in the company's time zone, named like ``"2026-W47"``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from flows.report_definitions import definitions
from flows.scales import Metric, Sentiment, sentiment
from flows.stats import (
    CesFigure,
    Change,
    CsatFigure,
    Estimate,
    NpsFigure,
    ces_summary,
    compare,
    csat_summary,
    median,
    nps_from_counts,
    rate,
    scale_position,
    share_positive,
)
from flows.topics import POSITIVE_TOPICS

DEFAULT_MIN_N = 30
#: Why a due survey was never sent (CX_METHOD §7), in the order the report lists them.
UNREACHABLE_REASONS = ("no_channel", "blocked", "opted_out", "expired")
DEFAULT_TREND_WEEKS = 8
ROLLING_WEEKS = 4
MAX_THEMES = 5
#: Complaint and praise themes shown per stage (each list).
MAX_STAGE_THEMES = 3
NEGATIVE_VERBATIMS = 3
POSITIVE_VERBATIMS = 2

#: How stages on different scales are put side by side on the journey map:
#: "scale_position" (default): the mean as % of the scale, 100·(mean − lowest)/(highest − lowest);
#: "share_positive": % of answers in the positive band (NPS 9–10, CSAT 4–5, CES 5–7). The latter
#: is structurally harsher on NPS (2 of 11 points are positive vs 2 of 5 for CSAT), so a typical
#: NPS of +30 (50 % promoters) would look worse than a typical CSAT of 80 %.
Normalisation = Literal["scale_position", "share_positive"]
DEFAULT_NORMALISATION: Normalisation = "scale_position"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


# ---------------------------------------------------------------------------------------------
# ISO weeks in a time zone


def parse_week(week_id: str) -> tuple[int, int]:
    """Return (ISO year, ISO week) of ``"YYYY-Www"``.

    Raises:
        ValueError: when the id is malformed or the week does not exist.
    """
    try:
        year_s, week_s = week_id.split("-W")
        year, week = int(year_s), int(week_s)
        date.fromisocalendar(year, week, 1)
    except ValueError as exc:
        raise ValueError(f"not an ISO week like 2026-W47: {week_id!r}") from exc
    return year, week


def week_id(day: date) -> str:
    """Return the ISO week id of a calendar day."""
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_of(moment: datetime, tz: str) -> str:
    """Return the ISO week id of an aware ``moment`` as seen in time zone ``tz``."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return week_id(moment.astimezone(ZoneInfo(tz)).date())


def shift_week(week: str, weeks: int) -> str:
    """Return the week ``weeks`` weeks after ``week`` (negative: before)."""
    year, number = parse_week(week)
    return week_id(date.fromisocalendar(year, number, 1) + timedelta(weeks=weeks))


def weeks_ending(week: str, count: int) -> list[str]:
    """Return ``count`` consecutive week ids ending with ``week``, oldest first."""
    return [shift_week(week, k) for k in range(-(count - 1), 1)]


def input_weeks(week: str, trend_weeks: int = 8) -> list[str]:
    """Return the weeks a report of ``week`` needs data for, oldest first.

    The trend shows ``trend_weeks`` weeks, each with its 4-week rolling value, so the inputs reach
    3 weeks further back (the "previous 4 weeks" comparison needs the 5 weeks ending with ``week``).
    """
    return weeks_ending(week, max(trend_weeks, ROLLING_WEEKS + 1) + ROLLING_WEEKS - 1)


def week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """Return [start, end) of ``week``: Monday 00:00 to the next Monday 00:00, local time in ``tz``."""
    year, number = parse_week(week)
    zone = ZoneInfo(tz)
    monday = date.fromisocalendar(year, number, 1)
    start = datetime.combine(monday, time(0), tzinfo=zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone)
    return start, end


def week_bounds_utc(week: str, tz: str) -> tuple[datetime, datetime]:
    """Return [start, end) of ``week`` in UTC (what range filters in SQL compare against)."""
    zone_utc = ZoneInfo("UTC")
    start, end = week_bounds(week, tz)
    return start.astimezone(zone_utc), end.astimezone(zone_utc)


# ---------------------------------------------------------------------------------------------
# Inputs: aggregated counts, as the database hands them over


class StageRef(_Frozen):
    """One measured touchpoint of the journey, in journey order: a stage and the metric asked there."""

    key: str
    metric: Metric
    labels: dict[str, str] = Field(default_factory=dict)  # language -> display name


class _Texts(Protocol):
    @property
    def it(self) -> str: ...
    @property
    def en(self) -> str: ...


class _JourneyStage(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> _Texts: ...
    @property
    def metric(self) -> Metric: ...


def stage_refs(stages: Iterable[_JourneyStage]) -> list[StageRef]:
    """Return a journey's measured touchpoints in order, named in it/en (pass ``journey.stages``)."""
    return [
        StageRef(key=stage.id, metric=stage.metric, labels={"it": stage.name.it, "en": stage.name.en})
        for stage in stages
    ]


class ScoreCount(_Frozen):
    """How many answers had ``score`` for one week × stage × metric × language × channel.

    Weeks before the report week's segments are needed may come with language and channel ""
    (all languages / channels together): only the report week is broken down by segment.
    """

    week: str
    stage: str
    metric: Metric
    language: str
    channel: str
    score: int
    count: int


class FunnelCount(_Frozen):
    """Invitation funnel counts for one week × stage × language × channel (events dated in that week)."""

    week: str
    stage: str
    language: str
    channel: str
    due: int = 0
    sent: int = 0
    delivered: int = 0
    answered: int = 0  # of the invitations delivered this week, how many got a score (so far)
    responses: int = 0  # scores received this week, whatever week their invitation was delivered
    commented: int = 0  # of those responses, how many came with typed words
    reasked: int = 0
    opted_out: int = 0
    unreachable: int = 0  # due this week and never sent: the sum of the four reasons below
    unreachable_no_channel: int = 0
    unreachable_blocked: int = 0
    unreachable_opted_out: int = 0
    unreachable_expired: int = 0
    due_sent: int = 0  # due this week and sent this week
    due_sent_later: int = 0  # due this week, sent in a later week (there counted as sent late)
    due_cancelled: int = 0  # due this week, cancelled or made moot before sending
    sent_late: int = 0  # sent this week, due in an earlier week


#: Which answers a topic count counts: "negative" ones (the complaint themes) or, for the praise
#: topics (``flows.topics.POSITIVE_TOPICS``), every answer naming one ("positive": what works).
ThemeBand = Literal["negative", "positive"]


class TopicCount(_Frozen):
    """How many answers of one week (and stage; "" = not split by stage) were about ``topic``."""

    week: str
    topic: str
    count: int
    stage: str = ""
    band: ThemeBand = "negative"


class VerbatimRow(_Frozen):
    """A candidate quote: an answer of the report week with a comment."""

    stage: str
    metric: Metric
    score: int
    language: str
    channel: str
    text: str
    answered_at: datetime
    topics: list[str] = Field(default_factory=list)


class OverdueItem(_Frozen):
    """An open escalation past its SLA at the end of the week."""

    ref: str
    stage: str
    priority: str
    opened_at: datetime
    taken: bool = False


class EscalationCounts(_Frozen):
    """Closing the loop for one week: counts, durations (seconds) and closing-question results."""

    week: str
    opened: int = 0
    taken: int = 0
    resolved: int = 0
    overdue: int = 0
    take_seconds: list[float] = Field(default_factory=list)
    resolve_seconds: list[float] = Field(default_factory=list)
    within_sla: int = 0
    sla_total: int = 0
    closing: dict[str, int] = Field(default_factory=dict)  # closing-question answer -> count
    detractors_closed: int = 0
    detractors_recovered: int = 0
    overdue_items: list[OverdueItem] = Field(default_factory=list)


class ReportInputs(_Frozen):
    """Everything :func:`build_report` needs, already aggregated; ``weeks`` ends with ``week``."""

    week: str
    timezone: str
    stages: list[StageRef]
    weeks: list[str]
    scores: list[ScoreCount] = Field(default_factory=list)
    funnel: list[FunnelCount] = Field(default_factory=list)
    topics: list[TopicCount] = Field(default_factory=list)
    verbatims: list[VerbatimRow] = Field(default_factory=list)
    escalations: list[EscalationCounts] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# The report


class MetricCell(_Frozen):
    """The figures of one stage × metric over one period/segment; figures are None when hidden (n < min n)."""

    metric: Metric
    n: int
    hidden: bool
    headline: Estimate | None = None  # NPS score, CSAT %, CES mean
    positive: Estimate | None = None  # share positive (NPS 9–10, CSAT 4–5, CES 5–7), 0–100
    position: Estimate | None = None  # mean as % of the scale, 0–100

    def normalised(self, how: Normalisation) -> Estimate | None:
        """Return the cell on the journey map's common 0–100 scale."""
        return self.position if how == "scale_position" else self.positive

    nps: NpsFigure | None = None
    csat: CsatFigure | None = None
    ces: CesFigure | None = None


class TrendPoint(_Frozen):
    """One week of a stage's trend: the week itself and the 4 weeks ending with it.

    ``rolling_complete`` is False (and the rolling cell hidden) when the inputs do not cover all
    4 weeks, so a rolling value never silently rests on fewer weeks than it claims.
    """

    week: str
    week_cell: MetricCell
    rolling_4w: MetricCell
    rolling_complete: bool


class StageFigures(_Frozen):
    """One touchpoint of the journey map with its figures, changes, segments and trend."""

    stage: str
    label: str
    metric: Metric
    position: int
    this_week: MetricCell
    last_week: MetricCell
    rolling_4w: MetricCell  # the 4 weeks ending with this week
    previous_4w: MetricCell  # the 4 weeks before this week
    change_week: Change  # this week − last week (headline)
    change_4w: Change  # this week − the 4 weeks before (headline)
    distribution: dict[int, int]  # raw scale of this week
    by_language: dict[str, MetricCell]
    by_channel: dict[str, MetricCell]
    trend: list[TrendPoint]


class FunnelFigures(_Frozen):
    """Funnel counts and rates: response rate = answered ÷ delivered (the week's delivered invitations
    as a cohort, so it never exceeds 100 %); comment rate = commented ÷ responses.

    The rows add up: due = due_sent + due_sent_later + unreachable + due_cancelled + due_pending
    (pending: still waiting to go out, e.g. held by quiet hours); sent = due_sent + sent_late.
    """

    due: int = 0
    sent: int = 0
    delivered: int = 0
    answered: int = 0  # of the invitations delivered this week, how many got a score (so far)
    responses: int = 0  # scores received this week, whatever week their invitation was delivered
    commented: int = 0  # of those responses, how many came with typed words
    reasked: int = 0
    opted_out: int = 0
    unreachable: int = 0
    unreachable_by_reason: dict[str, int] = Field(default_factory=dict)
    due_sent: int = 0
    due_sent_later: int = 0
    due_cancelled: int = 0
    due_pending: int = 0
    sent_late: int = 0
    response_rate: float | None = None
    comment_rate: float | None = None


class Funnel(_Frozen):
    """The response funnel this week, last week, and by channel, language and stage."""

    overall: FunnelFigures
    last_week: FunnelFigures
    response_rate_change: float | None = None  # points
    by_channel: dict[str, FunnelFigures]
    by_language: dict[str, FunnelFigures]
    by_stage: dict[str, FunnelFigures]


class Theme(_Frozen):
    """A theme: answers about ``topic`` this week and last week (complaints: negative answers)."""

    topic: str
    count: int
    last_week: int
    change: int


class StageThemes(_Frozen):
    """One stage's themes this week: what hurts (complaints) and what works (praise), most frequent first."""

    stage: str
    label: str
    struggles: list[Theme]
    works: list[Theme]


class Quote(_Frozen):
    """A customer's words chosen for the report (escape before showing!)."""

    stage: str
    label: str
    metric: Metric
    score: int
    sentiment: Sentiment
    language: str
    channel: str
    text: str


class EscalationFigures(_Frozen):
    """Closing the loop: escalations of the week and how fast and how well they were handled."""

    opened: int = 0
    opened_last_week: int = 0
    taken: int = 0
    resolved: int = 0
    overdue: int = 0
    median_take_hours: float | None = None
    median_resolve_hours: float | None = None
    within_sla_pct: float | None = None
    closing: dict[str, int] = Field(default_factory=dict)
    detractors_closed: int = 0
    detractors_recovered: int = 0
    recovery_rate: float | None = None
    overdue_items: list[OverdueItem] = Field(default_factory=list)


class WeakestStage(_Frozen):
    """The touchpoint lowest on the common scale, and whether it is clearly below the next one."""

    stage: str
    metric: Metric
    label: str
    basis: Literal["week", "rolling_4w"]
    value: Estimate  # on the report's normalisation
    runner_up: str | None = None
    clear: bool = False  # significantly below the runner-up


class WeeklyReport(_Frozen):
    """The whole weekly summary, language-neutral figures plus the report language for renderers."""

    week: str
    period_start: datetime
    period_end: datetime  # exclusive
    timezone: str
    language: str
    min_n: int
    normalisation: Normalisation = DEFAULT_NORMALISATION
    generated_at: datetime | None = None
    total_answers: int
    stages: list[StageFigures]
    weakest_stage: WeakestStage | None
    funnel: Funnel
    themes: list[Theme]
    stage_themes: list[StageThemes] = Field(default_factory=list)
    verbatims: list[Quote]
    escalations: EscalationFigures
    trend_weeks: list[str]
    definitions: dict[str, str] = Field(default_factory=dict)  # figure name -> one-line definition


# ---------------------------------------------------------------------------------------------
# Builder

_Key = tuple[str, Metric]
_Hist = dict[int, int]


def _cell(metric: Metric, counts: Mapping[int, int], min_n: int) -> MetricCell:
    """Return the figures of one histogram, hidden when n < min_n."""
    n = sum(counts.values())
    if n < min_n or n == 0:
        return MetricCell(metric=metric, n=n, hidden=True)
    base = MetricCell(
        metric=metric,
        n=n,
        hidden=False,
        positive=share_positive(metric, counts),
        position=scale_position(metric, counts),
    )
    if metric is Metric.NPS:
        nps = nps_from_counts(counts)
        headline = Estimate.model_validate(nps.model_dump(include=set(Estimate.model_fields)))
        return base.model_copy(update={"headline": headline, "nps": nps})
    if metric is Metric.CSAT:
        csat = csat_summary(counts)
        return base.model_copy(update={"headline": csat.pct, "csat": csat})
    ces = ces_summary(counts)
    return base.model_copy(update={"headline": ces.mean, "ces": ces})


def _pool(hists: Iterable[Mapping[int, int]]) -> _Hist:
    total: _Hist = defaultdict(int)
    for hist in hists:
        for score, count in hist.items():
            total[score] += count
    return dict(total)


def _change(a: MetricCell, b: MetricCell) -> Change:
    if a.headline is None or b.headline is None:
        return Change()
    return compare(a.headline, b.headline, means=a.metric is Metric.CES)  # CES: a mean, Welch's t


def _funnel_figures(rows: Iterable[FunnelCount]) -> FunnelFigures:
    fields = (
        "due",
        "sent",
        "delivered",
        "answered",
        "responses",
        "commented",
        "reasked",
        "opted_out",
        "unreachable",
        "due_sent",
        "due_sent_later",
        "due_cancelled",
        "sent_late",
    )
    sums = dict.fromkeys(fields, 0)
    by_reason = dict.fromkeys(UNREACHABLE_REASONS, 0)
    for row in rows:
        for name in fields:
            sums[name] += getattr(row, name)
        for why in UNREACHABLE_REASONS:
            by_reason[why] += getattr(row, f"unreachable_{why}")
    accounted = sums["due_sent"] + sums["due_sent_later"] + sums["unreachable"] + sums["due_cancelled"]
    return FunnelFigures(
        **sums,
        unreachable_by_reason=by_reason,
        due_pending=sums["due"] - accounted,
        response_rate=rate(sums["answered"], sums["delivered"]),
        comment_rate=rate(sums["commented"], sums["responses"]),
    )


def _grouped(rows: Sequence[FunnelCount], key: str) -> dict[str, FunnelFigures]:
    """Return funnel figures per value of ``key``; rows without one (opt-outs) count only overall."""
    groups: dict[str, list[FunnelCount]] = defaultdict(list)
    for row in rows:
        if getattr(row, key):
            groups[str(getattr(row, key))].append(row)
    return {name: _funnel_figures(group) for name, group in sorted(groups.items())}


def _build_funnel(raw: ReportInputs, last: str, order: Sequence[str]) -> Funnel:
    this_rows = [r for r in raw.funnel if r.week == raw.week]
    overall = _funnel_figures(this_rows)
    previous = _funnel_figures(r for r in raw.funnel if r.week == last)
    by_stage = _grouped(this_rows, "stage")
    rank = {key: i for i, key in reversed(list(enumerate(order)))}
    change = None
    if overall.response_rate is not None and previous.response_rate is not None:
        change = overall.response_rate - previous.response_rate
    return Funnel(
        overall=overall,
        last_week=previous,
        response_rate_change=change,
        by_channel=_grouped(this_rows, "channel"),
        by_language=_grouped(this_rows, "language"),
        by_stage=dict(sorted(by_stage.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))),
    )


def _ranked(this: Mapping[str, int], before: Mapping[str, int], limit: int) -> list[Theme]:
    """Return the topics counted this week, most frequent first (then by name), with last week's count."""
    ranked = sorted((t for t in this if this[t] > 0), key=lambda t: (-this[t], t))[:limit]
    return [
        Theme(topic=t, count=this[t], last_week=before.get(t, 0), change=this[t] - before.get(t, 0))
        for t in ranked
    ]


def _is_complaint(row: TopicCount) -> bool:
    """A count of negative answers about a topic that is not praise."""
    return row.band == "negative" and row.topic not in POSITIVE_TOPICS


def _build_themes(raw: ReportInputs, last: str) -> list[Theme]:
    counts: dict[str, dict[str, int]] = {raw.week: defaultdict(int), last: defaultdict(int)}
    for row in raw.topics:
        if row.week in counts and _is_complaint(row):
            counts[row.week][row.topic] += row.count
    return _ranked(counts[raw.week], counts[last], MAX_THEMES)


def _build_stage_themes(raw: ReportInputs, last: str, labels: Mapping[str, str]) -> list[StageThemes]:
    """Return, per stage in journey order (then any other stage by its key), what hurts and what
    works this week; stages with neither are left out."""
    counts: dict[tuple[str, str, bool], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in raw.topics:
        praise = row.band == "positive" and row.topic in POSITIVE_TOPICS
        if row.stage and row.week in (raw.week, last) and (praise or _is_complaint(row)):
            counts[(row.stage, row.week, praise)][row.topic] += row.count
    named = {stage for stage, week, _ in counts if week == raw.week}
    journey = [ref.key for ref in raw.stages]
    order = [key for key in dict.fromkeys(journey) if key in named] + sorted(named - set(journey))
    out = []
    for stage in order:
        struggles = _ranked(counts[(stage, raw.week, False)], counts[(stage, last, False)], MAX_STAGE_THEMES)
        works = _ranked(counts[(stage, raw.week, True)], counts[(stage, last, True)], MAX_STAGE_THEMES)
        if struggles or works:
            out.append(
                StageThemes(stage=stage, label=labels.get(stage, stage), struggles=struggles, works=works)
            )
    return out


def _pick_quotes(rows: Sequence[VerbatimRow], want: Sentiment, limit: int) -> list[VerbatimRow]:
    """Pick up to ``limit`` quotes of one sentiment: most extreme first, then newest, one per stage first."""
    candidates = [r for r in rows if r.text.strip() and sentiment(r.metric, r.score) is want]

    def extremity(row: VerbatimRow) -> float:
        span = row.metric.high - row.metric.low
        pos = (row.score - row.metric.low) / span
        return pos if want is Sentiment.NEGATIVE else 1.0 - pos

    candidates.sort(key=lambda r: (extremity(r), -r.answered_at.timestamp(), r.stage))
    chosen: list[VerbatimRow] = []
    seen: set[str] = set()
    for row in candidates:  # first pass: one per stage
        if row.stage not in seen and len(chosen) < limit:
            chosen.append(row)
            seen.add(row.stage)
    for row in candidates:  # second pass: fill up
        if len(chosen) >= limit:
            break
        if row not in chosen:
            chosen.append(row)
    return chosen


def _build_escalations(raw: ReportInputs, last: str) -> EscalationFigures:
    this = next((e for e in raw.escalations if e.week == raw.week), EscalationCounts(week=raw.week))
    before = next((e for e in raw.escalations if e.week == last), EscalationCounts(week=last))
    take = median(this.take_seconds)
    resolve = median(this.resolve_seconds)
    return EscalationFigures(
        opened=this.opened,
        opened_last_week=before.opened,
        taken=this.taken,
        resolved=this.resolved,
        overdue=this.overdue,
        median_take_hours=None if take is None else take / 3600.0,
        median_resolve_hours=None if resolve is None else resolve / 3600.0,
        within_sla_pct=rate(this.within_sla, this.sla_total),
        closing=dict(sorted(this.closing.items(), key=lambda kv: (-kv[1], kv[0]))),
        detractors_closed=this.detractors_closed,
        detractors_recovered=this.detractors_recovered,
        recovery_rate=rate(this.detractors_recovered, this.detractors_closed),
        overdue_items=sorted(this.overdue_items, key=lambda o: o.opened_at),
    )


def _weakest(stages: Sequence[StageFigures], how: Normalisation) -> WeakestStage | None:
    """Return the stage lowest on the common scale (this week, else the last 4 weeks), None if < 2 show."""
    bases: tuple[Literal["week", "rolling_4w"], ...] = ("week", "rolling_4w")
    for basis in bases:
        shown: list[tuple[StageFigures, Estimate, float]] = []
        for stage in stages:
            cell = stage.this_week if basis == "week" else stage.rolling_4w
            value = cell.normalised(how)
            if value is not None and value.value is not None:
                shown.append((stage, value, value.value))
        if len(shown) < 2:
            continue
        shown.sort(key=lambda item: (item[2], item[0].position))
        (worst, worst_value, _), (runner, runner_value, _) = shown[0], shown[1]
        return WeakestStage(
            stage=worst.stage,
            metric=worst.metric,
            label=worst.label,
            basis=basis,
            value=worst_value,
            runner_up=runner.stage,
            clear=compare(runner_value, worst_value, means=how == "scale_position").significant,
        )
    return None


def _stage_order(raw: ReportInputs) -> list[StageRef]:
    order = list(raw.stages)
    known = {(s.key, s.metric) for s in order}
    extra = sorted({(r.stage, r.metric) for r in raw.scores} - known)
    return order + [StageRef(key=k, metric=m) for k, m in extra]


def build_report(
    raw: ReportInputs,
    *,
    language: str = "en",
    min_n: int = DEFAULT_MIN_N,
    normalisation: Normalisation = DEFAULT_NORMALISATION,
    trend_weeks: int = DEFAULT_TREND_WEEKS,
    now: datetime | None = None,
) -> WeeklyReport:
    """Return the weekly summary of ``raw.week`` from aggregated counts.

    Cells with fewer than ``min_n`` answers are hidden (their n stays). Changes: this week
    against last week, and against the 4 weeks before this week (independent periods, so
    SE_diff = √(Var₁ + Var₂) holds); a change whose 95 % interval contains 0 is not significant.
    """
    if min_n < 1:
        raise ValueError("min_n must be at least 1")
    if trend_weeks < 1:
        raise ValueError("trend_weeks must be at least 1")
    parse_week(raw.week)
    weeks = sorted(set(raw.weeks) | {raw.week})
    if weeks[-1] != raw.week:
        raise ValueError("inputs must not contain weeks after the report week")
    last = shift_week(raw.week, -1)
    window = weeks_ending(raw.week, ROLLING_WEEKS)
    previous_window = weeks_ending(last, ROLLING_WEEKS)

    hist: dict[tuple[str, Metric, str], _Hist] = defaultdict(lambda: defaultdict(int))
    by_lang: dict[tuple[str, Metric, str], _Hist] = defaultdict(lambda: defaultdict(int))
    by_channel: dict[tuple[str, Metric, str], _Hist] = defaultdict(lambda: defaultdict(int))
    for row in raw.scores:
        if not row.metric.in_range(row.score):
            raise ValueError(f"score {row.score} is outside the {row.metric.value} scale ({row.stage})")
        hist[(row.stage, row.metric, row.week)][row.score] += row.count
        if row.week == raw.week and row.language:
            by_lang[(row.stage, row.metric, row.language)][row.score] += row.count
        if row.week == raw.week and row.channel:
            by_channel[(row.stage, row.metric, row.channel)][row.score] += row.count

    def pooled(key: _Key, span: Iterable[str]) -> _Hist:
        return _pool(hist.get((key[0], key[1], w), {}) for w in span)

    covered = set(weeks)

    def window_cell(metric: Metric, key: _Key, span: list[str]) -> MetricCell:
        """Return the pooled cell of ``span``, hidden when the inputs do not cover every week of it."""
        counts = pooled(key, span)
        if not covered.issuperset(span):
            return MetricCell(metric=metric, n=sum(counts.values()), hidden=True)
        return _cell(metric, counts, min_n)

    languages = sorted({r.language for r in raw.scores if r.week == raw.week and r.language})
    channels = sorted({r.channel for r in raw.scores if r.week == raw.week and r.channel})
    stages: list[StageFigures] = []
    for position, ref in enumerate(_stage_order(raw)):
        key = (ref.key, ref.metric)
        this_week = _cell(ref.metric, pooled(key, [raw.week]), min_n)
        last_week = _cell(ref.metric, pooled(key, [last]), min_n)
        rolling = window_cell(ref.metric, key, window)
        previous = window_cell(ref.metric, key, previous_window)
        trend = [
            TrendPoint(
                week=w,
                week_cell=_cell(ref.metric, pooled(key, [w]), min_n),
                rolling_4w=window_cell(ref.metric, key, weeks_ending(w, ROLLING_WEEKS)),
                rolling_complete=covered.issuperset(weeks_ending(w, ROLLING_WEEKS)),
            )
            for w in weeks[-trend_weeks:]
        ]
        stages.append(
            StageFigures(
                stage=ref.key,
                label=ref.labels.get(language) or ref.labels.get("en") or ref.key,
                metric=ref.metric,
                position=position,
                this_week=this_week,
                last_week=last_week,
                rolling_4w=rolling,
                previous_4w=previous,
                change_week=_change(this_week, last_week),
                change_4w=_change(this_week, previous),
                distribution={
                    s: c
                    for s, c in sorted(pooled(key, [raw.week]).items())
                    if c > 0 and ref.metric.in_range(s)
                },
                by_language={
                    lang: _cell(ref.metric, by_lang.get((ref.key, ref.metric, lang), {}), min_n)
                    for lang in languages
                },
                by_channel={
                    ch: _cell(ref.metric, by_channel.get((ref.key, ref.metric, ch), {}), min_n)
                    for ch in channels
                },
                trend=trend,
            )
        )

    labels = {s.stage: s.label for s in stages}
    quotes = [
        Quote(
            stage=r.stage,
            label=labels.get(r.stage, r.stage),
            metric=r.metric,
            score=r.score,
            sentiment=sentiment(r.metric, r.score),
            language=r.language,
            channel=r.channel,
            text=r.text.strip(),
        )
        for want, limit in (
            (Sentiment.NEGATIVE, NEGATIVE_VERBATIMS),
            (Sentiment.POSITIVE, POSITIVE_VERBATIMS),
        )
        for r in _pick_quotes(raw.verbatims, want, limit)
    ]
    start, end = week_bounds(raw.week, raw.timezone)
    return WeeklyReport(
        week=raw.week,
        period_start=start,
        period_end=end,
        timezone=raw.timezone,
        language=language,
        min_n=min_n,
        generated_at=now,
        total_answers=sum(r.count for r in raw.scores if r.week == raw.week),
        stages=stages,
        normalisation=normalisation,
        weakest_stage=_weakest(stages, normalisation),
        funnel=_build_funnel(raw, last, [s.stage for s in stages]),
        themes=_build_themes(raw, last),
        stage_themes=_build_stage_themes(raw, last, labels),
        verbatims=quotes,
        escalations=_build_escalations(raw, last),
        trend_weeks=weeks[-trend_weeks:],
        definitions=definitions(language),
    )
