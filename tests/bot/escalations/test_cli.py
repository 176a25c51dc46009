"""``cxbot escalations``: a table or one JSON object per escalation."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli.main import app as cli
from flows.journey import Journey
from storage.db import Database
from tests.bot.escalations.conftest import detractor, make_app, make_settings
from tests.clocks import FakeClock


def test_escalations_json_and_open_filter(sqlite_db: Database, journey: Journey, clock: FakeClock) -> None:
    """The detractor's escalation is listed as JSON and in the --open table."""
    from bot.engine.service import Service

    service = Service(sqlite_db, journey, clock=clock)
    make_app(service, make_settings())
    detractor(service, clock)
    url = str(sqlite_db.url)
    runner = CliRunner()
    result = runner.invoke(cli, ["escalations", "--format", "json", "--database-url", url])
    assert result.exit_code == 0, result.output
    # Only the JSON lines: log handlers left by earlier CLI tests may write noise.
    [row] = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert (row["customer_id"], row["priority"], row["status"], row["order_id"]) == (
        "c-42",
        "p1",
        "open",
        "1001",
    )
    table = runner.invoke(cli, ["escalations", "--open", "--database-url", url])
    assert table.exit_code == 0 and "c-42" in table.stdout and "priority" in table.stdout
