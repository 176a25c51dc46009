"""The report's "what works" (praise topics) next to what hurts, per stage (issue 15): built from
the topic counts, and shown by the text, HTML, CSV and chart renderers in Italian and English."""

from __future__ import annotations

import re
import warnings

import pytest

from bot.report.render_chart import journey_alt, render_chart
from bot.report.render_data import render_csv
from bot.report.render_html import render_html
from bot.report.render_text import render_text
from flows.report import (
    ReportInputs,
    StageRef,
    TopicCount,
    WeeklyReport,
    build_report,
    input_weeks,
    shift_week,
)
from flows.scales import Metric

W = "2026-W47"
LAST = shift_week(W, -1)
STAGES = [
    StageRef(key="order_placed", metric=Metric.CES, labels={"it": "Ordine", "en": "Order"}),
    StageRef(key="delivered", metric=Metric.CSAT, labels={"it": "Consegna", "en": "Delivery"}),
    StageRef(key="first_use", metric=Metric.NPS, labels={"it": "Primo utilizzo", "en": "First use"}),
]


def _count(week: str, stage: str, topic: str, count: int, band: str = "negative") -> TopicCount:
    return TopicCount(week=week, stage=stage, topic=topic, count=count, band=band)


TOPICS = [
    _count(W, "delivered", "late_delivery", 5),
    _count(LAST, "delivered", "late_delivery", 2),
    _count(W, "delivered", "damaged", 1),
    _count(W, "delivered", "fast_delivery", 7, "positive"),
    _count(LAST, "delivered", "fast_delivery", 3, "positive"),
    _count(W, "delivered", "well_packed", 2, "positive"),
    _count(W, "delivered", "fast_delivery", 4),  # a praise topic on negative answers: never a complaint
    _count(W, "first_use", "good_product", 4, "positive"),
    _count(W, "first_use", "good_value", 3, "positive"),
    _count(W, "first_use", "helpful_staff", 3, "positive"),
    _count(W, "first_use", "as_described", 1, "positive"),  # fourth: beyond the three shown
    _count(W, "zz_returns", "refund", 2),  # a stage the journey does not name: after its stages
    _count(LAST, "order_placed", "website", 6),  # only last week: the stage is left out
    _count(W, "", "price", 9),  # no stage: counts among the themes, under no stage
]


def _report(language: str = "en") -> WeeklyReport:
    raw = ReportInputs(
        week=W, timezone="Europe/Rome", stages=STAGES, weeks=input_weeks(W), scores=[], topics=TOPICS
    )
    return build_report(raw, language=language)


def test_each_stage_shows_what_hurts_and_what_works() -> None:
    """Per stage, journey order first: complaints of negative answers, praise apart, up to 3 each."""
    report = _report()
    rows = [
        (
            s.stage,
            s.label,
            [(t.topic, t.count, t.last_week, t.change) for t in s.struggles],
            [(t.topic, t.count, t.last_week, t.change) for t in s.works],
        )
        for s in report.stage_themes
    ]
    assert rows == [
        (
            "delivered",
            "Delivery",
            [("late_delivery", 5, 2, 3), ("damaged", 1, 0, 1)],
            [("fast_delivery", 7, 3, 4), ("well_packed", 2, 0, 2)],
        ),
        ("first_use", "First use", [],
         [("good_product", 4, 0, 4), ("good_value", 3, 0, 3), ("helpful_staff", 3, 0, 3)]),
        ("zz_returns", "zz_returns", [("refund", 2, 0, 2)], []),
    ]  # fmt: skip
    assert [t.topic for t in report.themes] == ["price", "late_delivery", "refund", "damaged"]  # no praise


def test_text_puts_what_works_next_to_what_hurts_in_both_languages() -> None:
    """The Telegram text has one line per stage: 👎 complaints · 👍 praise, in Italian and in English."""
    english = "\n".join(render_text(_report("en")))
    assert "<b>By stage: what hurts and what works</b>" in english
    delivery = "• <b>Delivery</b> — 👎 Late delivery 5 (+3), Damaged item 1 (+1) · 👍 Fast delivery 7 (+4), "
    assert delivery + "Well packed 2 (+2)" in english
    assert (
        "• <b>First use</b> — 👎 — · 👍 Good product 4 (+4), Good value 3 (+3), Helpful people 3 (+3)"
        in english
    )
    italian = "\n".join(render_text(_report("it")))
    assert "<b>Per tappa: cosa non va e cosa funziona</b>" in italian
    consegna = "• <b>Consegna</b> — 👎 Consegna in ritardo 5 (+3), Articolo danneggiato 1 (+1) · "
    assert consegna + "👍 Consegna veloce 7 (+4), Ben imballato 2 (+2)" in italian
    # the section comes right after the journey map, before the funnel
    assert english.index("what hurts and what works") < english.index("Response funnel")


def test_text_says_when_no_stage_names_a_topic() -> None:
    """Without topics at any stage the section says so instead of disappearing."""
    empty = build_report(ReportInputs(week=W, timezone="Europe/Rome", stages=STAGES, weeks=input_weeks(W)))
    assert "No topic named at any stage this week." in "\n".join(render_text(empty))
    it = build_report(
        ReportInputs(week=W, timezone="Europe/Rome", stages=STAGES, weeks=input_weeks(W)), language="it"
    )
    assert "Nessun argomento indicato nelle tappe questa settimana." in "\n".join(render_text(it))


@pytest.mark.parametrize(
    ("language", "hurts", "works"),
    [("en", "What hurts", "What works"), ("it", "Cosa non va", "Cosa funziona")],
)
def test_html_table_per_stage(language: str, hurts: str, works: str) -> None:
    """The HTML page has a per-stage table (cards on a phone) with both columns and their definitions."""
    report = _report(language)
    page = render_html(report, chart_png=b"")
    assert f"👎 {hurts}</th>" in page and f"👍 {works}</th>" in page
    assert f'title="{report.definitions["works"]}"' in page.replace("&#x27;", "'")
    row = re.search(r"<tr><td>Consegna</td>.*?</tr>|<tr><td>Delivery</td>.*?</tr>", page, flags=re.S)
    assert row is not None and "<br>" in row.group(0)


def test_csv_lists_each_stage_theme() -> None:
    """The CSV has a count and a change row per stage, topic and side."""
    lines = render_csv(_report()).splitlines()
    assert f"{W},stage_works,delivered,,fast_delivery,count,7,,,," in lines
    assert f"{W},stage_struggles,delivered,,late_delivery,change,3,,,," in lines
    assert sum(",stage_works," in line for line in lines) == 2 * 5


def test_chart_notes_each_stage_top_themes() -> None:
    """The journey chart notes each stage's top praise (✓) and complaint (✗), also in its alt text."""
    report = _report("it")
    assert "2. Consegna: " in journey_alt(
        report
    ) and "(✓ Consegna veloce 7, ✗ Consegna in ritardo 5)" in journey_alt(report)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font would warn
        png = render_chart(report, panel="journey")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
