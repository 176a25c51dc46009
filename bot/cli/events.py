"""``cxbot events import FILE``: load business events from JSONL or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from bot.cli.common import handles_errors, load_app


def _events_group(app: typer.Typer) -> typer.Typer:
    """Return the ``events`` sub-command group of ``app`` (created if absent)."""
    for group in app.registered_groups:
        if group.name == "events" and group.typer_instance is not None:
            return group.typer_instance
    events = typer.Typer(help="Business events.", no_args_is_help=True)
    app.add_typer(events, name="events")
    return events


@handles_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="JSONL (one event per line) or CSV file.")],
    fmt: Annotated[
        Literal["auto", "jsonl", "csv"], typer.Option("--format", help="auto (by extension), jsonl or csv.")
    ] = "auto",
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """Import business events; bad lines are reported (line, field) and not written; exit 1 if any.

    CSV columns: event_id,type,occurred_at,customer_id,customer_name,language,timezone,
    telegram_chat_id,order_id,items,ticket_id,consent (items separated by |; consent true/false).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.events.importer import count_records, import_events
    from bot.infra.settings import quiet_hours

    app = load_app(database_url)
    errors = Console(stderr=True)
    total = count_records(file)
    with Progress(
        TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=errors, transient=True
    ) as bar:
        task = bar.add_task("import", total=total or None)
        tally = import_events(
            app.db,
            app.journey,
            file,
            app.service.clock(),
            fmt=fmt,
            quiet=quiet_hours(app.settings),
            progress=lambda line: bar.update(task, completed=line),
        )
    for error in tally.errors:
        print(f"{file}:{error.line}: {error.message}", file=sys.stderr)
    typer.echo(f"accepted {tally.accepted}, duplicate {tally.duplicate}, invalid {tally.invalid}")
    typer.echo(
        f"surveys: {tally.scheduled} scheduled, {tally.expired} past their deadline (expired, not sent)"
    )
    app.db.dispose()
    if tally.invalid:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach ``import`` to the ``events`` group of the cxbot CLI."""
    _events_group(app).command("import")(import_command)
