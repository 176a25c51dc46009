"""Renderers of the weekly report: Telegram HTML chunks, PNG chart, HTML page, JSON and CSV."""

from __future__ import annotations

import csv
import io
import re
import struct
from datetime import UTC, datetime

import pytest

from bot.report import render
from bot.report.render_chart import render_chart
from bot.report.render_data import CSV_COLUMNS, render_csv, render_json
from bot.report.render_html import render_html
from bot.report.render_text import TELEGRAM_LIMIT, chunk, render_lines, render_text, utf16_len
from flows.report import (
    ReportInputs,
    ScoreCount,
    StageRef,
    VerbatimRow,
    WeeklyReport,
    build_report,
    input_weeks,
)
from flows.scales import Metric

EVIL = 'Pacco <script>alert("x")</script> & <b>rotto</b>'


def _with_evil(raw: ReportInputs, language: str) -> WeeklyReport:
    quotes = [
        *raw.verbatims,
        VerbatimRow(
            stage="delivered",
            metric=Metric.CSAT,
            score=1,
            language="it",
            channel="telegram",
            text=EVIL,
            answered_at=datetime(2026, 11, 21, 9, tzinfo=UTC),
        ),
    ]
    return build_report(raw.model_copy(update={"verbatims": quotes}), language=language)


@pytest.fixture
def report(sample: ReportInputs) -> WeeklyReport:
    """The sample week in English, with a hostile comment among the verbatims."""
    return _with_evil(sample, "en")


@pytest.fixture
def report_it(sample: ReportInputs) -> WeeklyReport:
    """The sample week in Italian, with a hostile comment among the verbatims."""
    return _with_evil(sample, "it")


def _empty() -> WeeklyReport:
    stages = [StageRef(key="delivered", metric=Metric.CSAT)]
    return build_report(
        ReportInputs(week="2026-W47", timezone="Europe/Rome", stages=stages, weeks=input_weeks("2026-W47"))
    )


def _balanced(message: str) -> bool:
    return all(message.count(f"<{t}>") == message.count(f"</{t}>") for t in ("b", "i"))


# --- Telegram text ------------------------------------------------------------------------------


def test_text_escapes_customer_words(report: WeeklyReport) -> None:
    """Customer text is HTML-escaped for Telegram: no raw tags from a comment survive."""
    text = "\n".join(render_text(report))
    assert "<script>" not in text
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;b&gt;rotto&lt;/b&gt;' in text


def test_text_fits_one_message_with_all_sections(report: WeeklyReport) -> None:
    """The sample week fits one Telegram message and names journey, weakest stage, funnel, themes, loop."""
    messages = render_text(report)
    assert len(messages) == 1
    body = messages[0]
    assert utf16_len(body) <= TELEGRAM_LIMIT
    for needle in (
        "Journey map",
        "Weakest touchpoint",
        "Response funnel",
        "Late delivery",
        "Closing the loop",
    ):
        assert needle in body
    assert "n &lt; 30: hidden" in body  # the small repurchase stage
    assert "top-box 5–7" in body  # CES details
    assert re.search(r"promoters \d+ · passives \d+ · detractors \d+", body)  # NPS groups
    assert re.search(r"mean \d\.\d \(", body)  # CSAT mean with its interval
    assert "not significant" in body
    assert _balanced(body)


def test_text_in_italian(report_it: WeeklyReport) -> None:
    """The Italian report uses Italian labels and decimal commas."""
    body = "\n".join(render_text(report_it))
    assert "Mappa del percorso" in body
    assert "Tappa più debole" in body
    assert re.search(r"CES \d,\d", body)
    assert "Journey map" not in body


def test_text_splits_cleanly_at_line_boundaries(report: WeeklyReport) -> None:
    """A long report is split into messages within the limit, each with balanced tags, losing no line."""
    lines = render_lines(report)
    messages = chunk(lines, limit=600)
    assert len(messages) > 3
    assert all(utf16_len(m) <= 600 and _balanced(m) for m in messages)
    kept = [line for m in messages for line in m.split("\n") if line]
    assert kept == [line for line in lines if line]


def test_text_cuts_an_overlong_line() -> None:
    """A single line longer than the limit is cut into pieces within the limit (emoji count as 2 units)."""
    messages = chunk(["😀" * 50, "short"], limit=30)
    assert all(utf16_len(m) <= 30 for m in messages)
    assert "".join(messages).replace("\n", "") == "😀" * 50 + "short"


def test_text_of_empty_week() -> None:
    """An empty week renders honest 'no answers' text, not zeros."""
    body = "\n".join(render_text(_empty()))
    assert "no answers" in body
    assert "Not enough answers to name a weakest touchpoint." in body
    assert "No negative comments this week." in body


# --- chart --------------------------------------------------------------------------------------


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_chart_is_a_phone_sized_png(report: WeeklyReport) -> None:
    """The chart is a PNG about 1000 px wide and taller than wide (one column for phones)."""
    width, height = _png_size(render_chart(report))
    assert 800 <= width <= 1300
    assert height > width


def test_chart_of_empty_week() -> None:
    """An empty week still gives a valid PNG."""
    width, _ = _png_size(render_chart(_empty()))
    assert width > 300


# --- HTML ---------------------------------------------------------------------------------------


def test_html_is_self_contained_and_escaped(report: WeeklyReport) -> None:
    """The HTML embeds the chart as base64, loads nothing external and escapes customer text."""
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_html_reuses_a_given_chart(report: WeeklyReport) -> None:
    """A chart rendered once can be passed in and is embedded as is."""
    page = render_html(report, chart_png=b"\x89PNG\r\n\x1a\nfake")
    assert "data:image/png;base64,iVBORw0KGgpmYWtl" in page


def test_html_in_italian_marks_weakest_stage(report_it: WeeklyReport) -> None:
    """The Italian page is lang="it" and highlights the weakest stage's row."""
    page = render_html(report_it, chart_png=b"")
    assert '<html lang="it">' in page
    assert report_it.weakest_stage is not None
    assert re.search(r'<tr class="weak"><td>\d\. ' + re.escape(report_it.weakest_stage.label), page)


# --- JSON and CSV -------------------------------------------------------------------------------


def test_json_round_trips(report: WeeklyReport) -> None:
    """The JSON export parses back into an identical report."""
    assert WeeklyReport.model_validate_json(render_json(report)) == report


def test_csv_has_every_figure_in_long_format(report: WeeklyReport) -> None:
    """The CSV has one figure per row; hidden cells keep n with empty values; values match the model."""
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert list(rows[0]) == CSV_COLUMNS
    delivered = next(s for s in report.stages if s.stage == "delivered")
    row = next(
        r
        for r in rows
        if (r["section"], r["stage"], r["segment"], r["measure"])
        == ("this_week", "delivered", "all", "headline")
    )
    assert delivered.this_week.headline is not None
    assert float(row["value"]) == pytest.approx(delivered.this_week.headline.value, abs=1e-4)
    assert int(row["n"]) == delivered.this_week.n
    hidden = next(
        r
        for r in rows
        if (r["section"], r["stage"], r["segment"], r["measure"])
        == ("this_week", "repurchase", "all", "headline")
    )
    assert hidden["value"] == ""
    assert int(hidden["n"]) < 30
    assert any(r["section"] == "funnel" and r["measure"] == "response_rate" for r in rows)
    assert any(r["section"] == "escalations" and r["measure"] == "median_take_hours" for r in rows)


@pytest.mark.parametrize("fmt", ["text", "html", "json", "csv", "png"])
def test_render_dispatch_handles_empty_week(fmt: str) -> None:
    """Every format renders an empty week."""
    assert len(render(_empty(), fmt)) > 100  # type: ignore[arg-type]


def test_render_rejects_unknown_format() -> None:
    """An unknown format is a clear error."""
    with pytest.raises(ValueError, match="unknown report format"):
        render(_empty(), "pdf")  # type: ignore[arg-type]


def test_scores_only_stage_counts_are_rendered() -> None:
    """A stage seen only in the data (not in the journey) shows up by key in the text."""
    raw = ReportInputs(
        week="2026-W47",
        timezone="Europe/Rome",
        stages=[],
        weeks=input_weeks("2026-W47"),
        scores=[
            ScoreCount(
                week="2026-W47", stage="odd", metric=Metric.NPS, language="en", channel="t", score=9, count=3
            )
        ],
    )
    body = "\n".join(render_text(build_report(raw)))
    assert "<b>odd</b>" in body


def test_closing_answers_are_named() -> None:
    """The escalation desk's closing answers (yes/no) read as solved / not solved, in both languages."""
    from bot.report import labels as L

    assert (L.closing("en", "yes"), L.closing("en", "no")) == ("solved", "not solved")
    assert (L.closing("it", "yes"), L.closing("it", "no_answer")) == ("risolto", "nessuna risposta")
