"""Several workers on one PostgreSQL: every survey asked exactly once, even when one is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.clock import utcnow
from flows.journey import Journey
from storage import migrate
from storage.db import Database
from storage.tables import DueWork, OutboxMessage, SurveyInstance
from tests.conftest import drop_pg_database, make_pg_database
from tests.fakes.bot_api import FakeBotAPI

SURVEYS = 300
WORKER = Path(__file__).with_name("scale_worker.py")
ROOT = Path(__file__).resolve().parents[3]


def _spawn(logs: Path, url: str, api: str, name: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # stderr to a file: a full pipe nobody reads would block the worker.
    log = (logs / f"{name}.log").open("w")
    with log:
        return subprocess.Popen(
            [sys.executable, str(WORKER), url, api, name, *extra],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
            cwd=ROOT,
        )


@pytest.mark.postgres
@pytest.mark.slow
def test_three_workers_ask_each_survey_once_despite_a_kill(
    pg_server: str, journey: Journey, tmp_path: Path
) -> None:
    """300 due surveys; one worker SIGKILLed holding leases, one killed mid-run: each asked exactly once."""
    url, name = make_pg_database(pg_server)
    db = Database(url)
    api = FakeBotAPI().start_in_thread()
    workers: list[subprocess.Popen[str]] = []
    stalled: subprocess.Popen[str] | None = None
    victim: subprocess.Popen[str] | None = None
    try:
        migrate.upgrade(db)
        now = utcnow()
        for n in range(SURVEYS):
            event = BusinessEventIn.model_validate(
                {
                    "event_id": f"scale-{n}",
                    "type": "order.delivered",
                    "occurred_at": (now - timedelta(hours=3)).isoformat(),
                    "customer": {"id": f"c-{n}", "language": "it", "telegram_chat_id": 10_000 + n},
                    "order": {"id": f"o-{n}"},
                }
            )
            ingest_event(db, journey, event, now, quiet=None)
        go = tmp_path / "go"
        stalled = _spawn(tmp_path, url, api.url, "w-stall", "--stall")
        workers = [_spawn(tmp_path, url, api.url, f"w-{i}", "--go", str(go)) for i in range(2)]
        victim = _spawn(
            tmp_path, url, api.url, "w-victim", "--timers-only", "--go", str(go)
        )  # killed mid-run
        assert stalled.stdout is not None and victim.stdout is not None
        line = stalled.stdout.readline()
        assert line.split() == ["stalled", "25", "25", "25"], line  # fed 25, holds 25 timers + 25 messages
        stalled.send_signal(signal.SIGKILL)
        stalled.wait(10)
        for ready in (*workers, victim):
            assert ready.stdout is not None and ready.stdout.readline().strip() == "ready"
        started = time.monotonic()
        go.touch()
        time.sleep(1.0)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        go.unlink()
        for worker in workers:
            worker.communicate(timeout=150)
            assert worker.returncode == 0
        elapsed = time.monotonic() - started
        per_chat = Counter(str(m["chat_id"]) for m in api.sent_messages())
        assert len(per_chat) == SURVEYS, f"{len(per_chat)} chats got a question"
        twice = [chat for chat, n in per_chat.items() if n > 1]
        assert not twice, f"{len(twice)} chats asked twice, e.g. {twice[:3]}"
        with db.read() as session:
            surveys = session.exec(select(SurveyInstance).where(SurveyInstance.stage == "delivered")).all()
            due = session.exec(select(DueWork).where(DueWork.kind == "survey_due")).all()
            outbox = session.exec(select(OutboxMessage)).all()
        assert {s.status for s in surveys} == {"sent"}
        assert Counter(w.status for w in due if w.survey_id in {s.id for s in surveys}) == {"done": SURVEYS}
        assert len(outbox) == SURVEYS and {m.status for m in outbox} == {"sent"}
        assert elapsed < 60
        print(f"{SURVEYS} surveys, 2 workers + 1 stalled and 1 killed mid-run: {elapsed:.1f} s", flush=True)
    finally:
        for running in (*workers, stalled, victim):
            if running is not None and running.poll() is None:
                running.kill()
                running.wait(10)
            if running is not None and running.stdout is not None:
                running.stdout.close()
        api.stop()
        db.dispose()
        drop_pg_database(pg_server, name)
