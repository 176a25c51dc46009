"""`cxbot events import`: JSONL and CSV, per-line errors with line and field, tally, exit code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, func, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.events.importer import CSV_COLUMNS
from storage import migrate
from storage.db import Database
from storage.tables import BusinessEvent, SurveyInstance


def _event(n: int, **changes: Any) -> dict[str, Any]:
    event = {
        "event_id": f"evt-{n}",
        "type": "order.delivered",
        "occurred_at": "2026-11-20T10:00:00Z",
        "customer": {"id": f"c-{n}", "language": "it", "timezone": "Europe/Rome"},
        "order": {"id": f"o-{n}", "items": [{"name": "Moka"}]},
    }
    event.update(changes)
    return event


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Return the URL of a fresh, migrated SQLite file the CLI will use."""
    url = f"sqlite:///{tmp_path / 'import.db'}"
    monkeypatch.setenv("CXBOT_DATABASE_URL", url)
    migrate.upgrade(Database(url))  # only `cxbot db upgrade`/`serve` create and migrate a database
    return url


def _count(url: str, model: type[SQLModel]) -> int:
    db = Database(url)
    with db.read() as session:
        count = session.exec(select(func.count()).select_from(model)).one()
    db.dispose()
    return count


def test_jsonl_good_lines_imported_bad_lines_reported(tmp_path: Path, database: str) -> None:
    """Good JSONL lines are imported; bad ones are named by line and field; exit code 1; tally printed."""
    bad_language = _event(3)
    bad_language["customer"]["language"] = "fr"
    lines = [
        json.dumps(_event(1)),
        json.dumps(_event(2)),
        json.dumps(bad_language),
        "{not json",
        json.dumps(_event(1)),  # a duplicate
        "",
        json.dumps(_event(5, type="order.lost")),
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["events", "import", str(file)])
    assert result.exit_code == 1, result.output
    assert "accepted 2, duplicate 1, invalid 3" in result.stdout
    assert f"{file}:3: customer.language:" in result.stderr
    assert f"{file}:4: not valid JSON" in result.stderr
    assert f"{file}:7: type:" in result.stderr
    assert _count(database, BusinessEvent) == 2
    assert _count(database, SurveyInstance) == 4


def test_csv_import_with_documented_columns(tmp_path: Path, database: str) -> None:
    """The documented CSV columns import; a bad cell is reported with its line and column name."""
    header = ",".join(CSV_COLUMNS)
    assert header.startswith("event_id,type,occurred_at,customer_id,customer_name,language,timezone,")
    rows = [
        "e1,order.delivered,2026-11-20T10:00:00Z,c-1,Giulia,it,Europe/Rome,4242,o-1,Moka|Filtri,,true",
        "e2,ticket.closed,2026-11-20T11:00:00+01:00,c-2,,en,,,,,T-9,",
        "e3,order.delivered,2026-11-20T10:00:00Z,c-3,,it,Europe/Rome,not-a-number,o-3,,,",
        "e4,order.delivered,2026-11-20T10:00:00Z,c-4,,de,,,o-4,,,",
    ]
    file = tmp_path / "events.csv"
    file.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["events", "import", str(file)])
    assert result.exit_code == 1, result.output
    assert "accepted 2, duplicate 0, invalid 2" in result.stdout
    assert f"{file}:4: telegram_chat_id:" in result.stderr
    assert f"{file}:5: language:" in result.stderr
    db = Database(database)
    with db.read() as session:
        stages = sorted(s.stage for s in session.exec(select(SurveyInstance)))
        delivered = session.exec(select(SurveyInstance).where(SurveyInstance.order_id == "o-1")).first()
    db.dispose()
    assert stages == ["delivered", "first_use", "ticket_closed"]
    assert delivered is not None and delivered.placeholders["product"] == "Moka"


def test_clean_file_exits_zero(tmp_path: Path, database: str) -> None:
    """A file with only valid events exits 0, and importing it again counts duplicates."""
    file = tmp_path / "ok.jsonl"
    file.write_text("\n".join(json.dumps(_event(n)) for n in range(3)) + "\n", encoding="utf-8")
    first = CliRunner().invoke(cli, ["events", "import", str(file)])
    again = CliRunner().invoke(cli, ["events", "import", str(file)])
    assert first.exit_code == 0 and "accepted 3, duplicate 0, invalid 0" in first.stdout
    assert again.exit_code == 0 and "accepted 0, duplicate 3, invalid 0" in again.stdout


def test_missing_file_is_a_clean_error(tmp_path: Path, database: str) -> None:
    """A missing file is one clear message and exit code 2."""
    result = CliRunner().invoke(cli, ["events", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
