"""Schema migrations (Alembic) applied by ``cxbot db upgrade`` and at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(db: Database) -> Config:
    """Return an Alembic configuration pointing at cxbot's migrations and ``db``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    config = alembic_config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(db: Database) -> str | None:
    """Return the revision the database is at, or None when it has no schema yet."""
    with db.read_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest migration revision shipped with this version."""
    return ScriptDirectory.from_config(alembic_config(Database("sqlite://"))).get_current_head()


def is_current(db: Database) -> bool:
    """Return True when the database schema is at the newest migration."""
    return current_revision(db) == head_revision()
