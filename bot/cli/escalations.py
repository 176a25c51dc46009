"""``cxbot escalations [--open] [--format table|json]``: list escalations (JSON: one per line)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import handles_errors, load_app

if TYPE_CHECKING:
    from storage.tables import Escalation

FIELDS = (
    "id",
    "priority",
    "status",
    "customer_id",
    "order_id",
    "stage",
    "metric",
    "score",
    "opened_at",
    "sla_due_at",
    "taken_by",
    "resolved_at",
    "closing_answer",
)


def _row(escalation: Escalation) -> dict[str, Any]:
    row = {key: getattr(escalation, key) for key in FIELDS}
    row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
    row["texts"] = list(escalation.texts)
    row["topics"] = list(escalation.topics)
    return row


def _table(rows: list[dict[str, Any]]) -> str:
    columns = (
        "id",
        "priority",
        "status",
        "customer_id",
        "order_id",
        "stage",
        "score",
        "sla_due_at",
        "taken_by",
    )
    cells = [[("" if r[c] is None else str(r[c]))[:25] for c in columns] for r in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


@handles_errors
def escalations_command(
    only_open: Annotated[bool, typer.Option("--open", help="Only open or taken escalations.")] = False,
    output: Annotated[str, typer.Option("--format", help="table or json (one object per line).")] = "table",
    database_url: Annotated[str | None, typer.Option("--database-url", help="Another database.")] = None,
) -> None:
    """List escalations, newest first."""
    if output not in ("table", "json"):
        raise typer.BadParameter("--format must be table or json")
    from sqlmodel import col, select

    from storage.tables import Escalation

    app = load_app(database_url)
    statement = select(Escalation).order_by(col(Escalation.opened_at).desc(), col(Escalation.id).desc())
    if only_open:
        statement = statement.where(col(Escalation.status).in_(("open", "taken")))
    with app.db.read() as session:
        rows = [_row(e) for e in session.exec(statement)]
    app.db.dispose()
    if output == "json":
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        typer.echo(_table(rows))


def register(app: typer.Typer) -> None:
    """Add ``cxbot escalations`` to the CLI."""
    app.command("escalations")(escalations_command)
