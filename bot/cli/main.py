"""The ``cxbot`` command line (contract names from DESIGN.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, handles_errors, load_app

app = typer.Typer(
    name="cxbot",
    help="Post-sale customer-experience chat bot: NPS, CSAT and CES along the journey, in it/en.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
journey_app = typer.Typer(help="Journey files.", no_args_is_help=True)
events_app = typer.Typer(help="Business events.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(journey_app, name="journey")
app.add_typer(events_app, name="events")


@db_app.command("upgrade")
@handles_errors
def db_upgrade(
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """Create or migrate the database schema to the newest version."""
    from bot.settings import Settings
    from storage import migrate
    from storage.db import Database

    db = Database(database_url or Settings().database_url)
    migrate.upgrade(db)
    typer.echo(f"database at revision {migrate.current_revision(db)}")


@journey_app.command("check")
@handles_errors
def journey_check(
    file: Annotated[
        Path | None, typer.Argument(help="Journey YAML (default: CXBOT_JOURNEY or the shipped one).")
    ] = None,
) -> None:
    """Validate a journey file; print each problem with file, field and reason."""
    from bot.settings import Settings
    from flows.journey import load_journey

    journey = load_journey(file or Settings().journey)
    for stage in journey.stages:
        typer.echo(
            f"ok  {stage.id:<14} {stage.trigger:<18} {stage.metric.value:<5} after {stage.delay}, "
            f"expires {stage.expiry}"
        )
    typer.echo(f"{len(journey.stages)} stages, no problems")


@app.command("shell")
@handles_errors
def shell(
    language: Annotated[str, typer.Option("--lang", help="it or en")] = "it",
    customer: Annotated[str, typer.Option(help="Customer id to play.")] = "shell-customer",
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """Chat with the bot in the terminal as a customer (/event delivered, /help, /quit)."""
    from bot.channels.shell import run_shell

    if language not in ("it", "en"):
        raise fail("--lang must be it or en", 2)
    run_shell(load_app(database_url), customer_id=customer, language=language)


@app.command("demo")
@handles_errors
def demo(
    customers: Annotated[int, typer.Option(min=1, max=20000, help="Simulated customers.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same demo).")] = 7,
    database: Annotated[Path, typer.Option(help="SQLite file to create (overwritten).")] = Path(
        "cxbot-demo.db"
    ),
) -> None:
    """Simulate customers through the whole journey on a fresh SQLite file and print the summary."""
    from bot.demo.run import run_demo

    run_demo(customers=customers, seed=seed, database=database)


@app.command("serve")
@handles_errors
def serve() -> None:
    """Run the service: HTTP API, Telegram, scheduler and senders in one process."""
    import asyncio

    from bot.observability.logs import configure_logging
    from bot.runtime import build_runtime, settle_heap
    from bot.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    runtime = build_runtime(load_app())
    settle_heap()
    asyncio.run(runtime.run())


def _register_plugins() -> None:
    """Register the commands of the other bot.cli modules (each exposes ``register(app)``)."""
    import importlib
    import pkgutil

    import bot.cli

    for module in sorted(m.name for m in pkgutil.iter_modules(bot.cli.__path__)):
        if module in ("main", "common"):
            continue
        register = getattr(importlib.import_module(f"bot.cli.{module}"), "register", None)
        if register is not None:
            register(app)


_register_plugins()
