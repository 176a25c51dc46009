"""``cxbot report``: the weekly summary from the database, in any format.

Loaded by ``bot/cli/report.py`` only when ``cxbot report`` runs (private: the plugin loader of
bot.cli.main skips it), because the report's models are costly to build at every start.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import handles_errors, load_app
from bot.infra.clock import utcnow
from bot.report import FORMATS, Format, render
from flows.report import WeeklyReport, parse_week, stage_refs


def build_weekly_report(
    database_url: str | None = None,
    *,
    week: str | None = None,
    language: str | None = None,
    min_n: int = 30,
    now: datetime | None = None,
    latest: bool = False,
) -> WeeklyReport:
    """Return the weekly report from the configured database and journey.

    ``week`` defaults to the last complete week before ``now``; ``latest=True`` picks instead the
    week of the newest answer (what the demo wants: its clock is simulated).
    """
    from bot.report.cache_use import count_cache_use
    from storage.report_queries import latest_answer_week, weekly_report

    app = load_app(database_url)
    settings = app.settings
    tz = settings.company_timezone
    try:
        with app.db.read_engine.connect() as conn:
            if week is None and latest:
                week = latest_answer_week(conn, tz)
                conn.commit()  # out of a transaction again: the report may store the weeks it counts
            return weekly_report(
                conn,
                now=now or utcnow(),
                timezone=tz,
                stages=stage_refs(app.journey.stages),
                week=week,
                language=language or settings.report_language,
                min_n=min_n,
                on_cache=count_cache_use,
            )
    finally:
        app.db.dispose()  # a one-shot command: close the pool's connections now


def write_report(report: WeeklyReport, fmt: Format, out: Path | None) -> None:
    """Write the rendered report to ``out`` (stdout when None; PNG needs a file)."""
    data = render(report, fmt)
    if fmt == "text":  # the Telegram messages, without their HTML, for a terminal or a text file
        from bot.cli.terminal_text import terminal_text

        data = terminal_text(data.decode()).encode()
    if out is not None:
        out.write_bytes(data)
        return
    if fmt == "png":
        raise typer.BadParameter("--format png needs --out FILE")
    sys.stdout.write(data.decode())
    sys.stdout.write("\n")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the cxbot CLI."""

    @app.command("report")
    @handles_errors
    def report(
        week: Annotated[
            str | None, typer.Option(help="ISO week like 2026-W47 (default: last complete week).")
        ] = None,
        fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "text",
        out: Annotated[Path | None, typer.Option(help="Write to FILE instead of stdout.")] = None,
        lang: Annotated[str | None, typer.Option(help="it or en (default: CXBOT_REPORT_LANGUAGE).")] = None,
        min_n: Annotated[int, typer.Option(min=1, help="Hide figures with fewer answers.")] = 30,
        database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
    ) -> None:
        """Print the weekly summary for managers (plain text, Telegram HTML, HTML, JSON, CSV or PNG)."""
        if fmt not in FORMATS:
            raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
        if lang is not None and lang not in ("it", "en"):
            raise typer.BadParameter("--lang must be it or en")
        if week is not None:
            try:
                parse_week(week)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
        result = build_weekly_report(database_url, week=week, language=lang, min_n=min_n)
        write_report(result, fmt, out)
