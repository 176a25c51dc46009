"""``cxbot report``: the weekly summary for managers (see bot.cli._weekly_report).

bot.cli._weekly_report builds the report's models at import (pydantic), which every ``cxbot`` start
would pay; so the command is registered here as a thin forwarder and the real one is built only
when ``cxbot report`` runs (its own ``--help`` included).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``cxbot report`` to the CLI, loading bot.cli._weekly_report when it runs."""

    @app.command(
        "report",
        help="Print the weekly summary for managers (see `cxbot report --help`).",
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    def report(ctx: typer.Context) -> None:
        from typer.main import get_command

        from bot.cli._weekly_report import register as register_report

        real = typer.Typer(add_completion=False)
        register_report(real)
        # Not standalone: usage errors and exit codes reach cxbot's own one-line error boundary.
        code = get_command(real).main(list(ctx.args), prog_name=ctx.command_path, standalone_mode=False)
        if isinstance(code, int) and code:
            raise typer.Exit(code)


__all__ = ["register"]
