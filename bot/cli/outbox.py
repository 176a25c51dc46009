"""``cxbot outbox retry-dead``: put dead letters (messages given up on) back in the outbox."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import handles_errors, load_app


@handles_errors
def retry_dead(
    channel: Annotated[
        str | None, typer.Option(help="Only this channel (telegram, helpdesk, email…).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Only this reason (permanent, exhausted, blocked, unknown).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """Send dead letters again, from their first attempt, once the cause is fixed (a chat still
    blocked keeps its letters)."""
    from storage.dead_letters import retry_dead_letters

    app = load_app(database_url)
    try:
        count = retry_dead_letters(app.db, app.service.clock(), channel=channel, reason=reason)
    finally:
        app.db.dispose()
    typer.echo(f"{count} dead letters back in the outbox")


def register(app: typer.Typer) -> None:
    """Attach ``outbox retry-dead`` to the cxbot CLI."""
    group = typer.Typer(help="The outbox of messages to send: dead letters.", no_args_is_help=True)
    group.command("retry-dead")(retry_dead)
    app.add_typer(group, name="outbox")
