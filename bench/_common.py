"""Helpers shared by the benches: a running clock, throwaway databases, seeded open surveys, memory."""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Only the standard library at import time: bench/inbound.py's echo baseline imports this module
# and must not carry cxbot's modules (their objects would weigh on its garbage collector).
if TYPE_CHECKING:
    from bot.engine.service import Service
    from bot.events.schema import BusinessEventIn

PG_URL = os.environ.get("CXBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TOKEN = "123456:BENCH-token"
START = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)  # a Tuesday morning: inside any sending window


class RunningClock:
    """Real time, starting on a Tuesday morning."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> datetime:
        return START + timedelta(seconds=time.monotonic() - self.t0)


def peak_rss_mb() -> float:
    """Return this process's peak resident set size in MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """Return this process's current resident set size in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def pg_reachable(url: str = PG_URL) -> bool:
    """Return whether the PostgreSQL server at ``url`` answers."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except OperationalError:
        return False


@contextmanager
def database_url(backend: str) -> Iterator[str]:
    """Yield the URL of an empty database: a temporary SQLite file, or a uniquely named PG database."""
    from sqlalchemy import create_engine, text

    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    name = f"cxbot_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def backends(requested: str) -> list[str]:
    """Return the requested backends (comma-separated), dropping PostgreSQL when unreachable."""
    out = []
    for name in requested.split(","):
        if name in ("postgres", "postgresql"):
            if pg_reachable():
                out.append("postgresql")
            else:
                print(f"  (PostgreSQL at {PG_URL} unreachable: skipped)")
        elif name == "sqlite":
            out.append("sqlite")
    return out


def delivered_event(customer_id: str, chat_id: int, now: datetime, language: str = "en") -> BusinessEventIn:
    """Return an order.delivered event of 3 hours ago (its CSAT is due) for a customer with a chat."""
    from bot.events.schema import BusinessEventIn

    customer: dict[str, Any] = {"id": customer_id, "name": "Giulia", "language": language}
    customer["telegram_chat_id"] = chat_id
    return BusinessEventIn.model_validate(
        {
            "event_id": f"evt-{customer_id}",
            "type": "order.delivered",
            "occurred_at": (now - timedelta(hours=3)).isoformat(),
            "customer": customer,
            "order": {"id": f"o-{customer_id}"},
        }
    )


def seed_surveys(service: Service, chats: list[int], now: datetime, *, mark_sent: bool = True) -> int:
    """Ingest one delivery per chat and feed the due CSAT surveys; return how many were asked.

    With ``mark_sent`` the questions are marked sent in the outbox (as if delivered earlier), so
    a bench measures only what it means to.
    """
    from sqlalchemy import update

    from bot.engine.timers import run_due_work
    from bot.events.ingest import ingest_event
    from storage.tables import OutboxMessage

    for chat in chats:
        ingest_event(service.db, service.journey, delivered_event(f"c{chat}", chat, now), now)
    fed = 0
    while True:
        counts = run_due_work(service, now, limit=500, quiet=None)
        fed += counts.get("fed", 0)
        if not counts:
            break
    if mark_sent:
        with service.db.write() as session:
            session.connection().execute(update(OutboxMessage).values(status="sent"))
    return fed
