"""`cxbot db copy`: a SQLite deployment's rows move to a new PostgreSQL database, which keeps working."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import func, select
from typer.testing import CliRunner

from bot.cli.main import app
from bot.engine.service import Service
from flows.journey import Journey
from storage import migrate
from storage.db import Database
from storage.tables import BusinessEvent, DueWork, Response
from tests.clocks import FakeClock
from tests.conftest import drop_pg_database, make_pg_database
from tests.seeding import ask_delivery_csat


def _count(db: Database, table: type) -> int:
    with db.read() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_copy_sqlite_to_an_empty_postgresql(
    tmp_path: Path, pg_server: str, journey: Journey, clock: FakeClock
) -> None:
    """Every row is copied once; ids continue after the copied ones; a second copy is refused."""
    sqlite = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(sqlite)
    service = Service(sqlite, journey, clock=clock)
    ask_delivery_csat(service, clock(), [101, 102, 103])
    url, name = make_pg_database(pg_server)
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
        result = runner.invoke(app, ["db", "copy", "--from", str(sqlite.engine.url), "--to", url])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("copied ")
        pg = Database(url)
        for table in (BusinessEvent, DueWork, Response):
            assert _count(pg, table) == _count(sqlite, table)
        assert _count(pg, BusinessEvent) == 3
        # The copy keeps working: new rows get ids after the copied ones.
        ask_delivery_csat(Service(pg, journey, clock=clock), clock(), [104])
        assert _count(pg, BusinessEvent) == 4
        again = runner.invoke(app, ["db", "copy", "--from", str(sqlite.engine.url), "--to", url])
        assert again.exit_code == 1 and "not empty" in again.stderr
        pg.dispose()
    finally:
        sqlite.dispose()
        drop_pg_database(pg_server, name)
