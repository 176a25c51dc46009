"""Shared fixtures: databases (SQLite and PostgreSQL), the journey, a controlled clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from bot.engine.service import Service
from flows.journey import Journey, load_journey
from storage import migrate
from storage.db import Database
from tests.clocks import FakeClock, RunningClock, install

#: The whole suite (and every worker it starts) runs on a pinned time line, never the wall clock.
SESSION_CLOCK = install()

PG_ADMIN_URL = os.environ.get("CXBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    """Yield the admin URL of the local PostgreSQL (skipped when absent, except in CI)."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    return PG_ADMIN_URL


def make_pg_database(admin_url: str) -> tuple[str, str]:
    """Create a fresh, uniquely named PostgreSQL database; return (url, name)."""
    name = f"cxbot_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_pg_database(admin_url: str, name: str) -> None:
    """Drop a database made by ``make_pg_database`` (closing other sessions first)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Yield a migrated, empty database: SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'cxbot.db'}")
        migrate.upgrade(database)
        yield database
        database.dispose()
        return
    admin_url = request.getfixturevalue("pg_server")
    url, name = make_pg_database(admin_url)
    database = Database(url)
    migrate.upgrade(database)
    yield database
    database.dispose()
    drop_pg_database(admin_url, name)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """Yield a migrated SQLite database only."""
    database = Database(f"sqlite:///{tmp_path / 'cxbot.db'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def journey() -> Journey:
    """Return the shipped default journey."""
    return load_journey(None)


@pytest.fixture
def session_clock() -> RunningClock:
    """Return the suite's running clock (pinned start; ``CXBOT_TEST_CLOCK`` moves it)."""
    return SESSION_CLOCK


@pytest.fixture
def clock() -> FakeClock:
    """Return a clock at Tuesday 2026-11-17 10:00 UTC."""
    return FakeClock(datetime(2026, 11, 17, 10, 0, tzinfo=UTC))


@pytest.fixture
def service(db: Database, journey: Journey, clock: FakeClock) -> Service:
    """Return the service on each database, with the controlled clock."""
    return Service(db, journey, clock=clock)
