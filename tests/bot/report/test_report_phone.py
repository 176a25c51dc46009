"""The weekly summary is readable where managers read it: a phone (cards, chart text ≥ 11 px at
420 px, alt text for each chart) and a terminal (no markup)."""

from __future__ import annotations

import base64
import io
import re
from html import escape

from PIL import Image

from bot.report import render
from bot.report.render_chart import PANEL_WIDTH
from bot.report.render_html import render_html
from flows.report import ReportInputs, build_report

#: The page's content width on a 420 px wide phone screen (main has 8 px padding each side).
PHONE_CONTENT_PX = 420 - 2 * 8
#: Smallest font size used in the chart panels, in points, and their resolution.
SMALLEST_PT, DPI = 12, 160


def test_every_table_reflows_into_cards(sample: ReportInputs) -> None:
    """On a phone each table row becomes a card: every cell but the title carries its column label."""
    page = render_html(build_report(sample, language="en"), chart_png=b"")
    assert "@media (max-width:600px)" in page and "table.cards thead{display:none}" in page
    tables = re.findall(r"<table class=\"cards\">.*?</table>", page, flags=re.S)
    assert len(tables) >= 6  # journey, funnel ×4, themes, segments…
    for table in tables:
        for row in re.findall(r"<tr(?: class=\"[^\"]*\")?>(.*?)</tr>", table.split("<tbody>")[1], flags=re.S):
            cells = re.findall(r"<td[^>]*>", row)
            assert all("data-label=" in cell for cell in cells[1:]), row[:200]


def test_headers_carry_their_definitions(sample: ReportInputs) -> None:
    """Column headers show the figure's definition on hover, and the page ends with all definitions."""
    report = build_report(sample, language="en")
    page = render_html(report, chart_png=b"")
    assert f'title="{escape(report.definitions["comment_rate"])}"' in page
    assert f'title="{escape(report.definitions["change_week"])}"' in page
    assert "<dl class='defs'>" in page and page.count("<dt>") == len(report.definitions)


def test_each_chart_has_its_own_alt_text_and_readable_type(sample: ReportInputs) -> None:
    """Two chart images, each with an alt text of its content; scaled to a 420 px screen their
    smallest type is at least 11 px."""
    report = build_report(sample, language="en", min_n=10)
    page = render_html(report)
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    (journey_alt, journey_png), (trend_alt, trend_png) = images
    assert all(s.label in journey_alt for s in report.stages) and "Weakest touchpoint" in journey_alt
    assert "Trend" in trend_alt and "→" in trend_alt
    for png in (journey_png, trend_png):
        width, _ = Image.open(io.BytesIO(base64.b64decode(png))).size
        assert width >= PANEL_WIDTH * DPI * 0.9  # not shrunk by the page: shown at full content width
        px_on_phone = SMALLEST_PT * DPI / 72 * min(1.0, PHONE_CONTENT_PX / width)
        assert px_on_phone >= 11, (width, px_on_phone)


def test_terminal_text_has_no_markup(sample: ReportInputs) -> None:
    """``cxbot report`` (text) prints plain text; the Telegram HTML stays in --format telegram."""
    report = build_report(sample, language="en")
    plain = render(report, "text").decode()
    assert not re.search(r"</?(b|i)>", plain) and "&lt;" not in plain and "&amp;" not in plain
    assert "Response funnel" in plain and "due " in plain
    assert "<b>" in render(report, "telegram").decode()
