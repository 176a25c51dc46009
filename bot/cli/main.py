"""The ``cxbot`` command line (contract names from DESIGN.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from bot.cli.common import fail, flags, handles_errors, load_app

if TYPE_CHECKING:
    from bot.infra.settings import Settings


def load_settings() -> Settings:
    """The checked settings (imported on use: `cxbot --help` starts without pydantic-settings)."""
    from bot.cli.config_check import load_settings as load

    return load()


class CxbotGroup(TyperGroup):
    """The top-level command: usage mistakes end as one line on stderr and exit 2.

    Click's (and typer's boxed) usage errors span several lines; an operator needs the one that
    says which argument is wrong and where the help is.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        except typer.Abort:
            print("cxbot: aborted", file=sys.stderr)
            code = 1
        except typer.TyperException as exc:  # click's usage errors (bad option, bad value…)
            message = exc.format_message().replace("Value error, ", "")
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                message += f" (see `{ctx.command_path} --help`)"
            print(f"cxbot: {message}", file=sys.stderr)
            code = exc.exit_code
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"cxbot {version('cxbot')}")
        raise typer.Exit(0)


app = typer.Typer(
    name="cxbot",
    help="Post-sale customer-experience chat bot: NPS, CSAT and CES along the journey, in it/en.",
    no_args_is_help=True,
    add_completion=False,
    cls=CxbotGroup,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    flags.debug = debug


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
    """Create or migrate the database schema to the newest version (safe to run from N workers)."""
    from storage import migrate
    from storage.db import Database

    db = Database(database_url or load_settings().database_url)
    done = migrate.upgrade(db)
    db.dispose()
    if done.migrated:
        typer.echo(f"database migrated from {done.before or 'empty'} to {done.after}")
    else:
        typer.echo(f"database already at revision {done.after}")


@db_app.command("copy")
@handles_errors
def db_copy(
    source: Annotated[str, typer.Option("--from", help="Database to copy, e.g. sqlite:////data/cxbot.db.")],
    target: Annotated[
        str | None, typer.Option("--to", help="An empty, upgraded database (default: CXBOT_DATABASE_URL).")
    ] = None,
) -> None:
    """Copy every row into another database at the same schema (SQLite → PostgreSQL to scale out)."""
    from storage import migrate
    from storage.copy import copy_database
    from storage.db import Database

    src = Database(source)
    dst = Database(target or load_settings().database_url)
    try:
        migrate.require_current(src)
        migrate.require_current(dst)
        copied = copy_database(src, dst)
    finally:
        src.dispose()
        dst.dispose()
    typer.echo(f"copied {sum(copied.values())} rows in {len(copied)} tables")


@journey_app.command("check")
@handles_errors
def journey_check(
    file: Annotated[
        Path | None, typer.Argument(help="Journey YAML (default: CXBOT_JOURNEY or the shipped one).")
    ] = None,
) -> None:
    """Validate a journey file; print each problem with file, field and reason."""
    from flows.journey import load_journey

    journey = load_journey(file or load_settings().journey)
    for stage in journey.stages:
        typer.echo(
            f"ok  {stage.id:<14} {stage.trigger:<18} {stage.metric.value:<5} after {stage.delay}, "
            f"expires {stage.expiry}"
        )
    typer.echo(f"{len(journey.stages)} stages, no problems")


@app.command("shell")
@handles_errors
def shell(
    language: Annotated[Literal["it", "en"], typer.Option("--lang", help="it or en")] = "it",
    customer: Annotated[str, typer.Option(help="Customer id to play.")] = "shell-customer",
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start clean: a temporary database, deleted at the end.")
    ] = False,
) -> None:
    """Chat with the bot in the terminal as a customer (/event delivered, /help, /quit)."""
    import tempfile
    from pathlib import Path

    from bot.channels.shell import run_shell

    if fresh and database_url:
        raise fail("--fresh and --database-url exclude each other", 2)
    if not fresh:
        run_shell(load_app(database_url), customer_id=customer, language=language)
        return
    from storage import migrate
    from storage.db import Database

    with tempfile.TemporaryDirectory(prefix="cxbot-shell-") as folder:
        url = f"sqlite:///{Path(folder) / 'shell.db'}"
        scratch = Database(url)
        migrate.upgrade(scratch)  # a throw-away database of its own: created at the newest schema
        scratch.dispose()
        run_shell(load_app(url), customer_id=customer, language=language, fresh=True)


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

    from bot.engine.wiring import build_app
    from bot.observability.logs import configure_logging
    from bot.runtime.serve import build_runtime, settle_heap

    settings = load_settings()  # the same checks as `cxbot config`
    configure_logging(settings.log_level)
    # Migrates under the lock, in a child process: Alembic and Mako never take this one's memory.
    runtime = build_runtime(build_app(settings, upgrade=True, upgrade_in_child=True))
    settle_heap()
    asyncio.run(runtime.run())


def _register_plugins() -> None:
    """Register the commands of the other bot.cli modules (each exposes ``register(app)``)."""
    import importlib
    import pkgutil

    import bot.cli

    for module in sorted(m.name for m in pkgutil.iter_modules(bot.cli.__path__)):
        if module in ("main", "common") or module.startswith("_"):
            continue  # private modules are loaded by the command that needs them
        register = getattr(importlib.import_module(f"bot.cli.{module}"), "register", None)
        if register is not None:
            register(app)


_register_plugins()
