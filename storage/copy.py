"""Copying every row of one cxbot database into another (SQLite → PostgreSQL when scaling out)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Integer, func, select, text
from sqlmodel import SQLModel

import storage.tables  # noqa: F401  (registers the tables on the metadata)
from flows.errors import ConflictError
from storage.db import Database

BATCH = 2000


def copy_database(
    source: Database, target: Database, progress: Callable[[str, int], None] = lambda _t, _n: None
) -> dict[str, int]:
    """Copy every table's rows from ``source`` to ``target`` (both at the same schema; the target
    empty), parents before children; return the rows copied per table.

    Raises:
        ConflictError: when the target already holds data (nothing is copied).
    """
    tables = SQLModel.metadata.sorted_tables
    with target.read_engine.connect() as conn:
        busy = [t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar()]
    if busy:
        raise ConflictError(f"the target database is not empty ({', '.join(busy[:3])}…): copy into a new one")
    copied: dict[str, int] = {}
    with source.read_engine.connect() as src, target.engine.begin() as dst:
        for table in tables:
            count = 0
            result = src.execution_options(yield_per=BATCH).execute(select(table))
            for rows in result.partitions(BATCH):
                dst.execute(table.insert(), [dict(row._mapping) for row in rows])
                count += len(rows)
            copied[table.name] = count
            progress(table.name, count)
        if not target.is_sqlite:
            # Rows came with their ids: move each id sequence past the largest one copied.
            for table in tables:
                for column in table.primary_key.columns:
                    if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                        name, key = table.name, column.name
                        dst.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{name}', '{key}'), "
                                f"COALESCE(MAX({key}), 1), MAX({key}) IS NOT NULL) FROM {name}"
                            )
                        )
    return copied
