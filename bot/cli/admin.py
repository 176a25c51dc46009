"""``cxbot status`` and ``cxbot config``: what is configured and what is pending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import handles_errors, load_app

if TYPE_CHECKING:
    from storage.db import Database

# The database, rich and the settings checker are imported in the commands: `cxbot --help` and
# the other commands start without them.


def _pending(db: Database) -> list[tuple[str, str]]:
    from sqlalchemy import func, select

    from storage.tables import DueWork, Escalation, JobRun, OutboxMessage

    with db.read() as session:
        c = session.connection()
        d = DueWork.__table__  # type: ignore[attr-defined]
        o = OutboxMessage.__table__  # type: ignore[attr-defined]
        e = Escalation.__table__  # type: ignore[attr-defined]
        j = JobRun.__table__  # type: ignore[attr-defined]
        rows = [
            (f"timers {kind} ({status})", str(n))
            for kind, status, n in c.execute(
                select(d.c.kind, d.c.status, func.count())
                .where(d.c.status.in_(("pending", "waiting")))
                .group_by(d.c.kind, d.c.status)
            )
        ]
        rows += [
            (f"outbox {channel}", str(n))
            for channel, n in c.execute(
                select(o.c.channel, func.count()).where(o.c.status == "pending").group_by(o.c.channel)
            )
        ]
        rows += [
            (f"escalations {priority} open", str(n))
            for priority, n in c.execute(
                select(e.c.priority, func.count())
                .where(e.c.status.in_(("open", "taken")))
                .group_by(e.c.priority)
            )
        ]
        last = c.execute(
            select(j.c.period, j.c.finished_at).where(j.c.job == "weekly_report").order_by(j.c.period.desc())
        ).first()
    rows.append(("last weekly report", f"{last[0]} ({last[1]})" if last else "never"))
    return rows


@handles_errors
def status() -> None:
    """Show the configuration (secrets masked), database, journey and pending work."""
    from rich.console import Console
    from rich.table import Table

    from bot.config_check import describe
    from storage import migrate

    app = load_app()
    console = Console()
    table = Table(title="cxbot status", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in describe(app.settings):
        table.add_row(name, value)
    revision = migrate.current_revision(app.db)
    current = "current" if revision == migrate.head_revision() else f"behind ({migrate.head_revision()})"
    table.add_row("database schema", f"{revision} — {current}")
    table.add_row("journey", f"{app.settings.journey or 'default'}: {len(app.journey.stages)} stages")
    for name, value in _pending(app.db):
        table.add_row(name, value)
    console.print(table)


@handles_errors
def config(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the settings reference table.")] = False,
) -> None:
    """Check the configuration (exit 2 naming each bad variable) or print the settings reference."""
    from bot.config_check import describe, load_settings, settings_reference

    if markdown:
        typer.echo(settings_reference())
        return
    settings = load_settings()
    for name, value in describe(settings):
        typer.echo(f"{name}={value}")
    typer.echo("configuration ok")


def register(app: typer.Typer) -> None:
    """Add ``status`` and ``config`` to the CLI."""
    app.command("status")(status)
    app.command("config")(config)
