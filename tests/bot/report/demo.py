"""The demo simulation's database, shared by the report tests that recompute every figure.

120 customers (seed 1) over the 35 days before Monday 30 Nov 2026: real conversations through the
service, agents resolving escalations, customers answering "no" to the closing question.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

TODAY = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday: the demo covers the 35 days before


def make_demo(path: Path) -> Path:
    """Write the demo's SQLite database to ``path``."""
    from bot.demo.run import run_demo

    db = run_demo(customers=120, seed=1, database=path, console=Console(file=io.StringIO()), today=TODAY)
    db.dispose()
    return path


def copy_to_postgres(source: Path, url: str) -> None:
    """Copy every table of the demo file into a migrated PostgreSQL database, row for row."""
    from storage import migrate
    from storage.db import Database

    target = Database(url)
    migrate.upgrade(target)
    target.dispose()
    lite = create_engine(f"sqlite:///{source}")
    pg = create_engine(url)
    with lite.connect() as read, pg.begin() as write:
        for table in SQLModel.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in read.execute(table.select())]
            if rows:
                write.execute(table.insert(), rows)
            if table.autoincrement_column is not None and rows:
                # rows came with their ids: the next insert continues after them
                key = table.autoincrement_column.name
                sequence = f"pg_get_serial_sequence('{table.name}', '{key}')"
                write.execute(text(f"SELECT setval({sequence}, max({key})) FROM {table.name}"))
    lite.dispose()
    pg.dispose()
