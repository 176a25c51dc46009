"""Renderers of the managers' weekly summary: Telegram text, PNG chart, HTML, JSON and CSV.

``render(report, fmt)`` is the one entry point the CLI and the scheduler need.
"""

from __future__ import annotations

from typing import Literal

from flows.report import WeeklyReport

Format = Literal["text", "telegram", "html", "json", "csv", "png"]
FORMATS: tuple[Format, ...] = ("text", "telegram", "html", "json", "csv", "png")


def render(report: WeeklyReport, fmt: Format) -> bytes:
    """Return the report in ``fmt`` as bytes (UTF-8 for text formats). text: plain text for a terminal
    (no markup); telegram: the Telegram HTML messages separated by a blank line and a ``---`` line."""
    if fmt == "text":
        from bot.report.render_text import render_plain

        return render_plain(report).encode()
    if fmt == "telegram":
        from bot.report.render_text import render_text

        return "\n\n---\n\n".join(render_text(report)).encode()
    if fmt == "html":
        from bot.report.render_html import render_html

        return render_html(report).encode()
    if fmt == "json":
        from bot.report.render_data import render_json

        return render_json(report).encode()
    if fmt == "csv":
        from bot.report.render_data import render_csv

        return render_csv(report).encode()
    if fmt == "png":
        from bot.report.render_chart import render_chart

        return render_chart(report)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
