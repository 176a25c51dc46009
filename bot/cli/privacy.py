"""``cxbot export`` and ``cxbot forget``: data out, and the right to be forgotten."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import fail, handles_errors, load_app

# The privacy modules (and the database) are imported in the commands: `cxbot --help` and the
# other commands start without them.


@handles_errors
def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    customer: Annotated[str | None, typer.Option(help="Only this customer's data (access request).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Write one line per stored answer (customer_id, order_id, stage, metric, score, comment, …)."""
    from bot.privacy.export import ANSWER_FIELDS, answer_rows, customer_record, to_text, write_rows

    if fmt not in ("jsonl", "csv"):
        raise fail("--format must be jsonl or csv", 2)
    app = load_app()
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    try:
        if customer is not None and fmt == "jsonl":
            record = customer_record(app.db, customer)
            if record is None:
                raise fail(f"no customer {customer!r}", 1)
            stream.write(to_text(record) + "\n")
            return
        count = write_rows(answer_rows(app.db, customer), stream, fmt, ANSWER_FIELDS)
    finally:
        if out:
            stream.close()
    print(f"exported {count} answers", file=sys.stderr)


@handles_errors
def forget(
    customer_id: Annotated[str, typer.Argument(help="The shop's customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data (name, chats, comments); anonymous scores are kept."""
    from bot.clock import utcnow
    from bot.privacy.erase import forget_customer

    if not yes and not typer.confirm(f"Erase the personal data of customer {customer_id!r}?"):
        raise fail("nothing erased", 1)
    result = forget_customer(load_app().db, customer_id, utcnow())
    typer.echo(
        f"erased customer {customer_id}: {result.answers_anonymised} answers anonymised, "
        f"{result.escalations_anonymised} escalations anonymised, {result.identities_removed} chats "
        f"and {result.events_removed} events removed"
    )


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``forget`` to the CLI."""
    app.command("export")(export)
    app.command("forget")(forget)
