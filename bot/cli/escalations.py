"""``cxbot escalations [--open] [--format table|json]``: list escalations (JSON: one per line),
unresolved ones past their SLA marked overdue (``⏰ 2 h``; ``overdue_hours`` in JSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from bot.cli.common import handles_errors, load_app

if TYPE_CHECKING:
    from storage.tables import AgentActionRecord, Escalation

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


def _row(escalation: Escalation, now: datetime, actions: list[AgentActionRecord]) -> dict[str, Any]:
    from bot.escalations import audit
    from bot.escalations.sla import overdue_hours

    row = {key: getattr(escalation, key) for key in FIELDS}
    row = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}
    row["texts"] = list(escalation.texts)
    row["topics"] = list(escalation.topics)
    due = escalation.sla_due_at
    late = escalation.status != "resolved" and due is not None and due <= now
    # Whole hours past the SLA for unresolved escalations (None when within it or resolved).
    row["overdue_hours"] = overdue_hours(due, now) if late and due is not None else None
    row["actions"] = audit.as_dicts(actions)  # who did what, when (the desk's audit)
    last = actions[-1] if actions else None
    row["last_action"] = f"{last.action} {last.agent} {last.at:%m-%d %H:%M}" if last else None
    return row


def _overdue_cell(hours: int | None) -> str:
    return "" if hours is None else f"⏰ {hours} h"


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
        "overdue",
        "taken_by",
        "last_action",
    )
    shown = [{**r, "overdue": _overdue_cell(r["overdue_hours"])} for r in rows]
    cells = [
        [("" if r[c] is None else str(r[c]))[: 40 if c == "last_action" else 25] for c in columns]
        for r in shown
    ]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


@handles_errors
def escalations_command(
    only_open: Annotated[bool, typer.Option("--open", help="Only open or taken escalations.")] = False,
    output: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table or json (one object per line).")
    ] = "table",
    database_url: Annotated[str | None, typer.Option("--database-url", help="Another database.")] = None,
) -> None:
    """List escalations, newest first."""
    from storage import escalations as escalation_store

    app = load_app(database_url)
    now = app.service.clock()
    rows = [_row(e, now, trail) for e, trail in escalation_store.listing(app.db, only_open=only_open)]
    app.db.dispose()
    if output == "json":
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
    else:
        typer.echo(_table(rows))


def register(app: typer.Typer) -> None:
    """Add ``cxbot escalations`` to the CLI."""
    app.command("escalations")(escalations_command)
