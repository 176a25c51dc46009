"""Logs carry no personal data: a 500 caused by a row full of it, logged by uvicorn, is redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.api.events import SIGNATURE_HEADER, sign
from bot.observability.logs import configure_logging, safe_exception_text
from storage import migrate
from storage.db import Database
from storage.tables import Customer
from tests.conftest import drop_pg_database, make_pg_database
from tests.hostile.conftest import Tally
from tests.hostile.workers import api_workers

SECRET = "log-redaction-secret"
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
#: Personal data in the event: none of these may appear in any log line.
PERSONAL = [
    "Ginevra Bortolotti",
    "Ginevra",
    "Bortolotti",
    "cust-7f3a9",
    "ord-55102",
    "Macinacaffè Zeta",
    "8812345",
]


def _event() -> bytes:
    return json.dumps(
        {
            "event_id": "evt-pd-1",
            "type": "order.delivered",
            "occurred_at": (NOW - timedelta(hours=3)).isoformat(),
            "customer": {
                "id": "cust-7f3a9",
                "name": "Ginevra Bortolotti",
                "language": "it",
                "telegram_chat_id": 8812345,
            },
            "order": {"id": "ord-55102", "items": [{"name": "Macinacaffè Zeta"}]},
        }
    ).encode()


def _refuse_customers(db: Database) -> None:
    """Make inserting a named customer fail inside the database (an IntegrityError naming the row)."""
    with db.engine.begin() as conn:
        if db.is_sqlite:
            conn.execute(
                text(
                    "CREATE TRIGGER pd_probe BEFORE INSERT ON customers WHEN length(NEW.name) > 3 "
                    "BEGIN SELECT RAISE(ABORT, 'pd probe'); END"
                )
            )
        else:  # PostgreSQL's error says "Failing row contains (cust-7f3a9, Ginevra Bortolotti, …)"
            conn.execute(text("ALTER TABLE customers ADD CONSTRAINT pd_probe CHECK (length(name) <= 3)"))


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of a migrated database (SQLite file, PostgreSQL) whose customers refuse names."""
    name = admin = None
    if request.param == "sqlite":
        address = f"sqlite:///{tmp_path / 'pd.db'}"
    else:
        admin = request.getfixturevalue("pg_server")
        address, name = make_pg_database(admin)
    db = Database(address)
    migrate.upgrade(db)
    _refuse_customers(db)
    db.dispose()
    yield address
    if name is not None and admin is not None:
        drop_pg_database(admin, name)


@pytest.mark.slow
async def test_a_500_full_of_personal_data_leaves_none_in_the_logs(
    url: str, tmp_path: Path, tally: Tally
) -> None:
    """uvicorn logs a named customer's unhandled IntegrityError: type and SQL logged; no name, id, item."""
    body = _event()
    with api_workers(url, 1, NOW, SECRET, tmp_path, level="DEBUG") as [base]:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(
                f"{base}/v1/events",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(SECRET, body, int(NOW.timestamp())),
                },
            )
    # The 500 is provoked on purpose (not tallied as a finding): what matters is what is logged.
    assert answer.status_code == 500
    log = (tmp_path / "worker-0.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if line.get("event", "").strip() == "Exception in ASGI application"]
    assert errors, log[-2000:]  # the failure itself is logged, once, with a usable traceback
    assert "IntegrityError" in errors[0]["exception"] and "INSERT INTO customers" in errors[0]["exception"]
    found = [item for item in PERSONAL if item in log or json.dumps(item)[1:-1] in log]
    tally.leftover(len(found))
    assert found == [], found


def test_structlog_and_stdlib_exceptions_are_rendered_without_messages(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database error logged through structlog and through stdlib keeps type and SQL, loses the values."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, structlog.get_config())
    try:
        configure_logging("INFO")
        _refuse_customers(db)
        with pytest.raises(IntegrityError) as caught, db.write() as session:
            session.add(Customer(id="cust-7f3a9", name="Ginevra Bortolotti", created_at=NOW, updated_at=NOW))
        structlog.get_logger("t").error("write_failed", exc_info=caught.value)
        logging.getLogger("uvicorn.error").error("Exception in ASGI application", exc_info=caught.value)
        logging.getLogger("sqlalchemy.engine.Engine").warning("[params] %r", ("Ginevra Bortolotti",))
        err = capsys.readouterr().err
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        structlog.configure(**saved[2])
    lines = [json.loads(line) for line in err.splitlines()]
    assert [line["event"] for line in lines] == [
        "write_failed",
        "Exception in ASGI application",
        "[params] %r",
    ]
    assert all("IntegrityError" in line["exception"] for line in lines[:2])
    assert "Ginevra" not in err and "cust-7f3a9" not in err
    assert "Ginevra" not in safe_exception_text(caught.value)
