"""The weekly report builder: weeks in a time zone, every figure from hand-made aggregated counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.report import (
    EscalationCounts,
    FunnelCount,
    ReportInputs,
    ScoreCount,
    StageRef,
    TopicCount,
    VerbatimRow,
    build_report,
    input_weeks,
    shift_week,
    stage_refs,
    week_bounds,
    week_bounds_utc,
    week_of,
    weeks_ending,
)
from flows.scales import Metric, Sentiment

W = "2026-W47"
TZ = "Europe/Rome"
NPS = StageRef(key="first_use", metric=Metric.NPS, labels={"en": "First use", "it": "Primo utilizzo"})
CSAT = StageRef(key="delivered", metric=Metric.CSAT, labels={"en": "Delivery", "it": "Consegna"})
CES = StageRef(key="ticket_closed", metric=Metric.CES, labels={"en": "Support"})


def _scores(
    week: str, stage: StageRef, hist: dict[int, int], lang: str = "it", channel: str = "telegram"
) -> list[ScoreCount]:
    return [
        ScoreCount(
            week=week, stage=stage.key, metric=stage.metric, language=lang, channel=channel, score=s, count=c
        )
        for s, c in hist.items()
    ]


def _inputs(scores: list[ScoreCount], stages: list[StageRef] | None = None, **kw: object) -> ReportInputs:
    return ReportInputs(
        week=W,
        timezone=TZ,
        stages=stages if stages is not None else [NPS, CSAT, CES],
        weeks=input_weeks(W),
        scores=scores,
        **kw,
    )


# --- weeks ------------------------------------------------------------------------------------


def test_week_bounds_in_company_timezone() -> None:
    """2026-W47 runs Monday 16 Nov 00:00 to Monday 23 Nov 00:00 Rome time, i.e. from 15 Nov 23:00 UTC."""
    start, end = week_bounds(W, TZ)
    assert start.isoformat() == "2026-11-16T00:00:00+01:00"
    assert end.isoformat() == "2026-11-23T00:00:00+01:00"
    start_utc, end_utc = week_bounds_utc(W, TZ)
    assert start_utc == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    assert end_utc == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_week_with_dst_change_is_167_hours() -> None:
    """The week in which Italy moves clocks forward (29 Mar 2026) lasts 167 hours in UTC."""
    start, end = week_bounds_utc("2026-W13", TZ)
    assert end - start == timedelta(hours=167)


def test_week_of_uses_local_date() -> None:
    """An answer at 23:30 UTC on Sunday belongs to the next ISO week in Rome."""
    assert week_of(datetime(2026, 11, 15, 23, 30, tzinfo=UTC), TZ) == "2026-W47"
    assert week_of(datetime(2026, 11, 15, 22, 30, tzinfo=UTC), TZ) == "2026-W46"
    with pytest.raises(ValueError, match="aware"):
        week_of(datetime(2026, 11, 15), TZ)


def test_week_arithmetic_across_years() -> None:
    """2026 has 53 ISO weeks; shifting and listing weeks crosses the year correctly."""
    assert shift_week("2026-W53", 1) == "2027-W01"
    assert shift_week("2027-W01", -1) == "2026-W53"
    assert weeks_ending("2027-W02", 3) == ["2026-W53", "2027-W01", "2027-W02"]
    assert len(input_weeks(W)) == 11
    assert input_weeks(W)[-1] == W
    with pytest.raises(ValueError, match="ISO week"):
        shift_week("2026-47", 1)


# --- stage figures ------------------------------------------------------------------------------


def test_stage_figures_by_hand() -> None:
    """NPS of 20 promoters, 6 passives, 4 detractors (n=30) is +53, with n and counts kept."""
    report = build_report(_inputs(_scores(W, NPS, {10: 12, 9: 8, 8: 4, 7: 2, 3: 4})))
    stage = report.stages[0]
    assert stage.stage == "first_use"
    assert stage.label == "First use"
    cell = stage.this_week
    assert cell.n == 30
    assert not cell.hidden
    assert cell.nps is not None
    assert (cell.nps.promoters, cell.nps.passives, cell.nps.detractors) == (20, 6, 4)
    assert cell.headline is not None
    assert cell.headline.value == pytest.approx(100 * 16 / 30)
    assert cell.positive is not None
    assert cell.positive.value == pytest.approx(100 * 20 / 30)
    mean = (10 * 12 + 9 * 8 + 8 * 4 + 7 * 2 + 3 * 4) / 30
    assert cell.position is not None
    assert cell.position.value == pytest.approx(10 * mean)
    assert stage.distribution == {3: 4, 7: 2, 8: 4, 9: 8, 10: 12}
    assert report.total_answers == 30


def test_cells_under_min_n_are_hidden_and_min_n_is_configurable() -> None:
    """29 answers are hidden at the default minimum of 30 (n kept); a minimum of 20 shows them."""
    scores = _scores(W, CSAT, {5: 20, 1: 9})
    hidden = build_report(_inputs(scores)).stages[1].this_week
    assert hidden.hidden
    assert hidden.n == 29
    assert hidden.headline is None
    assert hidden.csat is None
    assert hidden.positive is None
    shown = build_report(_inputs(scores), min_n=20).stages[1].this_week
    assert not shown.hidden
    assert shown.csat is not None
    assert shown.csat.pct.value == pytest.approx(100 * 20 / 29)


def test_empty_week() -> None:
    """A week without any data gives empty, hidden cells, no weakest stage, no rates and no changes."""
    report = build_report(_inputs([]))
    assert report.total_answers == 0
    assert [s.stage for s in report.stages] == ["first_use", "delivered", "ticket_closed"]
    for stage in report.stages:
        assert stage.this_week.n == 0
        assert stage.this_week.hidden
        assert stage.change_week.delta is None
        assert not stage.change_week.significant
        assert stage.distribution == {}
        assert stage.by_language == {}
        assert stage.by_channel == {}
    assert report.weakest_stage is None
    assert report.funnel.overall.response_rate is None
    assert report.funnel.overall.comment_rate is None
    assert report.themes == []
    assert report.verbatims == []
    assert report.escalations.median_take_hours is None
    assert report.escalations.recovery_rate is None


def test_stage_without_answers_among_others() -> None:
    """A stage with no answers stays on the map (n=0) and the weakest is chosen among the others."""
    scores = _scores(W, NPS, {10: 20, 9: 10}) + _scores(W, CSAT, {5: 10, 3: 10, 1: 10})
    report = build_report(_inputs(scores))
    ces = report.stages[2]
    assert ces.this_week.n == 0
    assert ces.this_week.hidden
    assert report.weakest_stage is not None
    assert report.weakest_stage.stage == "delivered"
    assert report.weakest_stage.runner_up == "first_use"
    assert report.weakest_stage.clear is True


def test_single_answer() -> None:
    """One CES answer (min n 1) shows its score, no t interval, and no significant change."""
    scores = _scores(W, CES, {6: 1}) + _scores(shift_week(W, -1), CES, {2: 1})
    stage = build_report(_inputs(scores), min_n=1).stages[2]
    cell = stage.this_week
    assert cell.ces is not None
    assert cell.ces.mean.value == 6.0
    assert cell.ces.mean.low is None
    assert cell.ces.top_box.value == 100.0
    assert stage.change_week.delta == pytest.approx(4.0)
    assert stage.change_week.significant is False


def test_changes_against_last_week_and_previous_four_weeks() -> None:
    """CSAT % rises from 50% (last week; the 4 weeks before) to 90% this week: both changes significant."""
    scores = _scores(W, CSAT, {5: 90, 2: 10})
    scores += _scores(shift_week(W, -1), CSAT, {5: 50, 1: 50})
    for k in (2, 3, 4):
        scores += _scores(shift_week(W, -k), CSAT, {4: 25, 2: 25})
    scores += _scores(shift_week(W, -5), CSAT, {1: 1000})  # outside both windows
    stage = build_report(_inputs(scores)).stages[1]
    assert stage.change_week.delta == pytest.approx(40.0)
    assert stage.change_week.significant is True
    assert stage.previous_4w.n == 100 + 50 + 50 + 50  # W43..W46
    assert stage.previous_4w.headline is not None
    assert stage.previous_4w.headline.value == pytest.approx(50.0)
    assert stage.change_4w.delta == pytest.approx(40.0)
    assert stage.change_4w.significant is True
    assert stage.rolling_4w.n == 100 + 100 + 50 + 50  # W44..W47
    assert stage.rolling_4w.headline is not None
    assert stage.rolling_4w.headline.value == pytest.approx(100 * (90 + 50 + 25 + 25) / 300)


def test_small_change_is_not_significant() -> None:
    """NPS +30 → +40 on 50 answers each is inside the interval: not significant."""
    scores = _scores(W, NPS, {10: 25, 8: 10, 0: 5}) + _scores(W, NPS, {10: 0, 0: 5, 7: 5})
    scores += _scores(shift_week(W, -1), NPS, {10: 25, 8: 15, 0: 10})
    stage = build_report(_inputs(scores)).stages[0]
    assert stage.this_week.headline is not None
    assert stage.this_week.headline.value == pytest.approx(30.0)
    assert stage.change_week.delta == pytest.approx(0.0)
    scores2 = _scores(W, NPS, {10: 25, 8: 20, 0: 5}) + _scores(shift_week(W, -1), NPS, {10: 25, 8: 15, 0: 10})
    stage2 = build_report(_inputs(scores2)).stages[0]
    assert stage2.change_week.delta == pytest.approx(10.0)
    assert stage2.change_week.significant is False


def test_rolling_value_needs_all_four_weeks_in_inputs() -> None:
    """A rolling value whose weeks are not all in the inputs is hidden rather than based on fewer weeks."""
    raw = ReportInputs(
        week=W, timezone=TZ, stages=[CES], weeks=weeks_ending(W, 2), scores=_scores(W, CES, {7: 40})
    )
    stage = build_report(raw).stages[0]
    assert not stage.this_week.hidden
    assert stage.rolling_4w.hidden
    assert stage.rolling_4w.n == 40
    assert stage.previous_4w.hidden
    assert [p.rolling_complete for p in stage.trend] == [False, False]


def test_trend_covers_last_weeks_with_rolling_values() -> None:
    """The trend lists the last 8 weeks, each with its own week and its 4-week pool."""
    scores = [s for k in range(11) for s in _scores(shift_week(W, -k), NPS, {10: 10, 0: 10 - k})]
    report = build_report(_inputs(scores), min_n=1)
    trend = report.stages[0].trend
    assert [p.week for p in trend] == weeks_ending(W, 8) == report.trend_weeks
    assert all(p.rolling_complete for p in trend)
    last = trend[-1]
    assert last.week_cell.n == 20
    assert last.rolling_4w.n == 20 + 19 + 18 + 17


def test_segments_pool_counts_not_scores() -> None:
    """Overall NPS pools the language segments' counts; it is not the mean of the segment scores."""
    scores = _scores(W, NPS, {10: 30}, lang="it") + _scores(
        W, NPS, {10: 30, 0: 60}, lang="en", channel="rasa"
    )
    stage = build_report(_inputs(scores)).stages[0]
    assert stage.by_language["it"].headline is not None
    assert stage.by_language["it"].headline.value == 100.0
    assert stage.by_language["en"].headline is not None
    assert stage.by_language["en"].headline.value == pytest.approx(-100 / 3)
    assert stage.this_week.headline is not None
    assert stage.this_week.headline.value == pytest.approx(0.0)
    assert set(stage.by_channel) == {"telegram", "rasa"}
    assert stage.by_channel["rasa"].n == 90


def test_unknown_stage_is_appended_after_journey() -> None:
    """Answers for a stage missing from the journey still appear, after the journey's stages."""
    extra = StageRef(key="shipped", metric=Metric.CSAT)
    report = build_report(_inputs(_scores(W, extra, {5: 3})))
    assert [s.stage for s in report.stages] == ["first_use", "delivered", "ticket_closed", "shipped"]
    assert report.stages[-1].label == "shipped"


def test_stage_labels_follow_report_language() -> None:
    """Stage labels come in the report language, falling back to English then to the key."""
    report = build_report(_inputs([]), language="it")
    assert [s.label for s in report.stages] == ["Primo utilizzo", "Consegna", "Support"]


def test_weakest_stage_normalisations() -> None:
    """NPS +30 (mean 7.7) vs CSAT 80% (mean 3.7): scale position names CSAT, share positive NPS."""
    scores = _scores(W, NPS, {10: 50, 7: 30, 3: 20}) + _scores(W, CSAT, {4: 80, 3: 10, 2: 10})
    by_position = build_report(_inputs(scores))
    assert by_position.normalisation == "scale_position"
    assert by_position.weakest_stage is not None
    assert by_position.weakest_stage.stage == "delivered"  # 3.7 on 1–5 = 67.5/100 vs 7.7 on 0–10 = 77/100
    assert by_position.weakest_stage.value.value == pytest.approx(100 * (3.7 - 1) / 4)
    by_share = build_report(_inputs(scores), normalisation="share_positive")
    assert by_share.weakest_stage is not None
    assert by_share.weakest_stage.stage == "first_use"
    assert by_share.weakest_stage.value.value == pytest.approx(50.0)


def test_weakest_stage_not_clear_when_intervals_overlap() -> None:
    """Two close stages: the lower one is named but flagged as not clearly below the other."""
    scores = _scores(W, CSAT, {5: 20, 4: 10, 3: 5}) + _scores(W, CES, {7: 20, 6: 10, 4: 6})
    weakest = build_report(_inputs(scores)).weakest_stage
    assert weakest is not None
    assert weakest.clear is False
    assert weakest.basis == "week"


def test_weakest_stage_falls_back_to_four_weeks() -> None:
    """With too few answers this week, the weakest stage is named on the last 4 weeks, and says so."""
    scores = []
    for k in range(4):
        scores += _scores(shift_week(W, -k), NPS, {10: 10}) + _scores(shift_week(W, -k), CSAT, {1: 10})
    weakest = build_report(_inputs(scores)).weakest_stage
    assert weakest is not None
    assert weakest.basis == "rolling_4w"
    assert weakest.stage == "delivered"


# --- funnel, themes, verbatims, escalations ---------------------------------------------------


def _funnel(week: str, stage: str, lang: str, channel: str, **counts: int) -> FunnelCount:
    return FunnelCount(week=week, stage=stage, language=lang, channel=channel, **counts)


def test_funnel_by_hand() -> None:
    """Response rate = answered ÷ delivered, comment rate = commented ÷ responses, also per segment."""
    rows = [
        _funnel(W, "delivered", "it", "telegram", due=110, sent=100, delivered=90, answered=36, responses=36,
                commented=9, reasked=3, opted_out=1, unreachable=10),
        _funnel(W, "first_use", "en", "rasa", due=20, sent=20, delivered=10, answered=4, responses=4,
                commented=4),
        _funnel(shift_week(W, -1), "delivered", "it", "telegram", delivered=100, answered=50),
        _funnel(shift_week(W, -2), "delivered", "it", "telegram", delivered=1000, answered=1000),
    ]  # fmt: skip
    f = build_report(_inputs([], funnel=rows)).funnel
    o = f.overall
    assert (o.due, o.sent, o.delivered, o.answered, o.responses, o.commented) == (130, 120, 100, 40, 40, 13)
    assert (o.reasked, o.opted_out, o.unreachable) == (3, 1, 10)
    assert o.response_rate == pytest.approx(40.0)
    assert o.comment_rate == pytest.approx(32.5)
    assert f.last_week.response_rate == pytest.approx(50.0)
    assert f.response_rate_change == pytest.approx(-10.0)
    assert f.by_channel["rasa"].response_rate == pytest.approx(40.0)
    assert f.by_language["it"].comment_rate == pytest.approx(25.0)
    assert list(f.by_stage) == ["first_use", "delivered"]  # journey order


def test_themes_ranked_with_change() -> None:
    """Themes: this week's negative-comment topics, most frequent first, at most 5, with change."""
    topics = [
        TopicCount(week=W, topic=t, count=c)
        for t, c in [("a", 1), ("b", 5), ("c", 3), ("d", 2), ("e", 2), ("f", 1)]
    ]
    topics += [TopicCount(week=shift_week(W, -1), topic="b", count=7), TopicCount(week=W, topic="c", count=1)]
    themes = build_report(_inputs([], topics=topics)).themes
    assert [(t.topic, t.count, t.last_week, t.change) for t in themes] == [
        ("b", 5, 7, -2),
        ("c", 4, 0, 4),
        ("d", 2, 0, 2),
        ("e", 2, 0, 2),
        ("a", 1, 0, 1),
    ]


def _quote(stage: StageRef, score: int, text: str, hour: int) -> VerbatimRow:
    return VerbatimRow(
        stage=stage.key,
        metric=stage.metric,
        score=score,
        language="it",
        channel="telegram",
        text=text,
        answered_at=datetime(2026, 11, 18, hour, tzinfo=UTC),
    )


def test_verbatims_three_negative_two_positive() -> None:
    """Three negative quotes (worst first, one per stage first), two positive; neutral/blank skipped."""
    rows = [
        _quote(CSAT, 2, "tardi", 1),
        _quote(CSAT, 1, "rotto", 2),
        _quote(CSAT, 1, "mai arrivato", 3),
        _quote(NPS, 5, "caro", 4),
        _quote(NPS, 8, "ok", 5),  # passive: neutral
        _quote(NPS, 10, "   ", 6),  # blank
        _quote(NPS, 10, "ottimo", 7),
        _quote(CES, 7, "facile", 8),
        _quote(CES, 6, "abbastanza facile", 9),
    ]
    quotes = build_report(_inputs([], verbatims=rows)).verbatims
    assert [(q.text, q.sentiment) for q in quotes] == [
        ("mai arrivato", Sentiment.NEGATIVE),  # CSAT 1, newest first among equals
        ("caro", Sentiment.NEGATIVE),  # another stage before a second delivery quote
        ("rotto", Sentiment.NEGATIVE),
        ("facile", Sentiment.POSITIVE),  # CES 7 at the top of its scale (answered after "ottimo")
        ("ottimo", Sentiment.POSITIVE),
    ]


def test_escalations_by_hand() -> None:
    """Medians in hours, share within SLA, closing-question results and detractor recovery rate."""
    esc = [
        EscalationCounts(
            week=W,
            opened=5,
            taken=4,
            resolved=3,
            overdue=1,
            take_seconds=[3600, 7200, 10800, 36000],
            resolve_seconds=[3600 * 5, 3600 * 30, 3600 * 10],
            within_sla=3,
            sla_total=4,
            closing={"not_resolved": 1, "resolved": 2},
            detractors_closed=3,
            detractors_recovered=2,
        ),
        EscalationCounts(week=shift_week(W, -1), opened=9),
    ]
    x = build_report(_inputs([], escalations=esc)).escalations
    assert (x.opened, x.opened_last_week, x.taken, x.resolved, x.overdue) == (5, 9, 4, 3, 1)
    assert x.median_take_hours == pytest.approx(2.5)
    assert x.median_resolve_hours == pytest.approx(10.0)
    assert x.within_sla_pct == pytest.approx(75.0)
    assert list(x.closing.items()) == [("resolved", 2), ("not_resolved", 1)]
    assert x.recovery_rate == pytest.approx(200 / 3)


def test_period_and_parameters() -> None:
    """The report carries its week, local period, time zone, language, minimum n and the given time."""
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    report = build_report(_inputs([]), language="it", min_n=10, now=now)
    assert report.week == W
    assert report.timezone == TZ
    assert report.language == "it"
    assert report.min_n == 10
    assert report.period_start.isoformat() == "2026-11-16T00:00:00+01:00"
    assert report.generated_at == now
    with pytest.raises(ValueError, match="min_n"):
        build_report(_inputs([]), min_n=0)


def test_invalid_inputs_are_rejected() -> None:
    """Scores off the scale and weeks after the report week are errors."""
    bad = ScoreCount(week=W, stage="x", metric=Metric.CSAT, language="it", channel="t", score=9, count=1)
    with pytest.raises(ValueError, match="outside"):
        build_report(_inputs([bad]))
    later = ReportInputs(week=W, timezone=TZ, stages=[], weeks=[W, shift_week(W, 1)])
    with pytest.raises(ValueError, match="after the report week"):
        build_report(later)


def test_report_is_frozen(sample: ReportInputs) -> None:
    """The report model is immutable."""
    report = build_report(sample)
    with pytest.raises(ValueError, match="frozen"):
        report.week = "2026-W01"  # type: ignore[misc]


def test_stage_refs_from_journey_stages() -> None:
    """Journey stages become StageRefs in order, with their it/en names."""
    from flows.journey import load_journey

    journey = load_journey()
    refs = stage_refs(journey.stages)
    assert [r.key for r in refs] == [s.id for s in journey.stages]
    assert refs[0].labels == {"it": journey.stages[0].name.it, "en": journey.stages[0].name.en}
    assert refs[0].metric == journey.stages[0].metric
