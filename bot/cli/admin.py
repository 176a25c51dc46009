"""``cxbot status`` and ``cxbot config``: what is configured and what is pending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import handles_errors, load_app

if TYPE_CHECKING:
    from rich.console import Console

    from bot.engine.wiring import App
    from storage.db import Database

# The database, rich and the settings load inside each command: `cxbot --help` starts without them.


def _pending(db: Database) -> list[tuple[str, str]]:
    from storage import backlog, job_runs
    from storage.dead_letters import dead_letters

    rows = [(f"timers {kind} ({status})", str(n)) for kind, status, n in backlog.waiting_timers(db)]
    rows += [(f"outbox {channel}", str(n)) for channel, n in backlog.pending_outbox(db)]
    rows += [  # dead letters: given up on, kept; fix the cause, then `cxbot outbox retry-dead`
        (f"outbox {d.channel} failed ({d.reason})", f"{d.count}, oldest {d.oldest:%Y-%m-%d %H:%M} UTC")
        for d in dead_letters(db)
    ]
    rows += [(f"escalations {priority} open", str(n)) for priority, n in backlog.open_escalations(db)]
    rows += [  # kept, never lost, but waiting for someone: a mapping fix, then `connectors replay`
        (f"connector deliveries {connector} {status}", str(n))
        for connector, status, n in backlog.deliveries_needing_work(db)
    ]
    last = job_runs.last_finished(db, "weekly_report")
    rows.append(("last weekly report", f"{last[0]} ({last[1]})" if last else "never"))
    return rows


@handles_errors
def status() -> None:
    """Show the configuration (secrets masked), database, journey, pending work and dead letters."""
    from rich.console import Console

    app = load_app(schema="exists")  # shows a schema that is behind instead of refusing it
    try:
        _status(app, Console())
    finally:
        app.db.dispose()


def _status(app: App, console: Console) -> None:
    """Print the status table (the database is the caller's to dispose)."""
    from rich.table import Table

    from bot.cli.config_check import describe
    from storage import migrate

    table = Table(title="cxbot status", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, value in describe(app.settings):
        table.add_row(name, value)
    revision, head = migrate.current_revision(app.db), migrate.head_revision()
    problem = migrate.schema_problem(revision, head)
    table.add_row("database schema", f"current {revision or 'none'}, head {head}")
    table.add_row("migrations", "current" if problem is None else problem)
    if problem is not None:  # the tables may not exist yet: nothing more to count
        console.print(table)
        return
    table.add_row("journey", f"{app.settings.journey or 'default'}: {len(app.journey.stages)} stages")
    for name, value in _pending(app.db):
        table.add_row(name, value)
    console.print(table)


@handles_errors
def config(
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the settings reference table.")] = False,
) -> None:
    """Check the configuration (exit 2 naming each bad variable) or print the settings reference."""
    from bot.cli.config_check import config_warnings, describe, load_settings, settings_reference

    if markdown:
        typer.echo(settings_reference())
        return
    settings = load_settings()
    for name, value in describe(settings):
        typer.echo(f"{name}={value}")
    for warning in config_warnings(settings):
        typer.echo(f"warning: {warning}", err=True)
    if settings.telegram_token is not None and not settings.telegram_bot_username:
        from bot.channels.telegram.username import fetch

        found, why = fetch(settings)
        if found is None:
            typer.echo(
                f"warning: CXBOT_TELEGRAM_BOT_USERNAME is not set and the bot's username could not be "
                f"read ({why}): deep links will be null until Telegram answers getMe",
                err=True,
            )
        else:
            typer.echo(f"bot username (from getMe): {found}")
    typer.echo("configuration ok")


def register(app: typer.Typer) -> None:
    """Add ``status`` and ``config`` to the CLI."""
    app.command("status")(status)
    app.command("config")(config)
