"""``cxbot export`` and ``cxbot forget``: data out, and the right to be forgotten."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from bot.cli.common import fail, handles_errors, load_app

# What export and forget need (the database, the report's rows) loads inside each command.


@handles_errors
def export(
    fmt: Annotated[Literal["jsonl", "csv"], typer.Option("--format", help="jsonl or csv")] = "jsonl",
    customer: Annotated[str | None, typer.Option(help="Only this customer's data (access request).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
    what: Annotated[
        Literal["answers", "surveys", "escalations", "closing", "customers"],
        typer.Option(help="answers, surveys, escalations, closing (questions) or customers."),
    ] = "answers",
    excel: Annotated[
        bool, typer.Option("--excel", help="CSV for Excel: UTF-8 BOM, ';' where the locale writes 3,5.")
    ] = False,
) -> None:
    """Write one line per stored answer (customer_id, order_id, stage, metric, score, comment, …),
    or with --what per survey, escalation, closing question or customer (to recompute the report)."""
    from bot.privacy.csv_safety import UTF8_BOM, excel_delimiter, locale_language
    from bot.privacy.export import ANSWER_FIELDS, answer_rows, customer_record, to_text, write_rows
    from bot.report.export import WHATS, export_rows

    if excel and fmt != "csv":
        raise typer.BadParameter("--excel needs --format csv")
    if what not in WHATS:
        raise fail(f"--what must be one of {', '.join(WHATS)}", 2)
    app = load_app()
    if what != "answers":
        if customer is not None:
            raise fail("--customer goes with --what answers", 2)
        rows, fields = export_rows(app.db, what)
        stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
        delimiter = ","
        if excel:
            stream.write(UTF8_BOM)
            delimiter = excel_delimiter(locale_language() or app.settings.report_language)
        try:
            count = write_rows(rows, stream, fmt, fields, delimiter=delimiter)
        finally:
            if out:
                stream.close()
            app.db.dispose()
        print(f"exported {count} {what}", file=sys.stderr)
        return
    stream = out.open("w", encoding="utf-8", newline="") if out else sys.stdout
    delimiter = ","
    if excel:
        stream.write(UTF8_BOM)
        delimiter = excel_delimiter(locale_language() or app.settings.report_language)
    try:
        if customer is not None and fmt == "jsonl":
            record = customer_record(app.db, customer)
            if record is None:
                raise fail(f"no customer {customer!r}", 1)
            stream.write(to_text(record) + "\n")
            return
        count = write_rows(answer_rows(app.db, customer), stream, fmt, ANSWER_FIELDS, delimiter=delimiter)
    finally:
        if out:
            stream.close()
        app.db.dispose()
    print(f"exported {count} answers", file=sys.stderr)


@handles_errors
def forget(
    customer_id: Annotated[str, typer.Argument(help="The shop's customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a customer's personal data (name, chats, comments); anonymous scores are kept."""

    from bot.infra.clock import utcnow
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
