"""The triggers on ``responses`` that drop a cached week of ``report_cache`` when one of its answers
is inserted, changed or deleted (late answers, erasure, retention). Apart from ``storage.tables`` so
that ``create_all`` can install them without an import circle."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

_TRIGGER = "report_cache_drop_weeks"


def schema_of(conn: Connection) -> str | None:
    """Return the schema the tables are in when the connection translates it (tests), else None."""
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    return translate.get(None)


def qualified(conn: Connection, name: str) -> str:
    schema = schema_of(conn)
    return f'"{schema}".{name}' if schema else name


def _sqlite_triggers() -> list[str]:
    def covers(row: str) -> str:
        return f"(period_start <= {row}.answered_at AND {row}.answered_at < period_end)"

    return [
        f"CREATE TRIGGER IF NOT EXISTS {_TRIGGER}_{op.lower()} AFTER {op} ON responses "
        f"BEGIN DELETE FROM report_cache WHERE {' OR '.join(covers(row) for row in rows)}; END"
        for op, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",)))
    ]


def _postgresql_triggers(prefix: str) -> list[str]:
    def drop(row: str) -> str:
        return (
            f"DELETE FROM {prefix}report_cache "
            f"WHERE period_end > {row}.answered_at AND period_start <= {row}.answered_at;"
        )

    return [
        f"CREATE OR REPLACE FUNCTION {prefix}{_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        f"BEGIN\n  IF TG_OP <> 'INSERT' THEN {drop('OLD')} END IF;\n"
        f"  IF TG_OP <> 'DELETE' THEN {drop('NEW')} END IF;\n  RETURN NULL;\nEND $$",
        f"DROP TRIGGER IF EXISTS {_TRIGGER} ON {prefix}responses",
        f"CREATE TRIGGER {_TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {prefix}responses "
        f"FOR EACH ROW EXECUTE FUNCTION {prefix}{_TRIGGER}()",
    ]


def create_triggers(conn: Connection) -> None:
    """Create the triggers on ``responses`` that drop a cached week when one of its answers changes
    (when both tables exist; again: nothing changes)."""
    schema = schema_of(conn)
    tables = set(inspect(conn).get_table_names(schema=schema))
    if not {"responses", "report_cache"} <= tables:
        return
    if conn.dialect.name == "postgresql":
        statements = _postgresql_triggers(f'"{schema}".' if schema else "")
    else:
        statements = _sqlite_triggers()
    for statement in statements:
        conn.exec_driver_sql(statement)


def drop_triggers(conn: Connection) -> None:
    """Drop the triggers of ``create_triggers`` (migration downgrade; benches loading rows in bulk)."""
    if conn.dialect.name == "postgresql":
        prefix = qualified(conn, "")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_TRIGGER} ON {prefix}responses")
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {prefix}{_TRIGGER}()")
        return
    for op in ("insert", "update", "delete"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {_TRIGGER}_{op}")
