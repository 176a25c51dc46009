"""Dead letters: a message given up on is kept with its reason, counted in /metrics, listed by
`cxbot status`, reported (still ready) by /readyz, and sent again by `cxbot outbox retry-dead`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from random import Random

import httpx
import pytest
from aiogram import Bot
from sqlmodel import select
from typer.testing import CliRunner

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.cli.main import app as cli
from bot.delivery.sender import Sender, SenderConfig
from bot.engine.wiring import App, build_app
from bot.infra.retry import RetryPolicy
from bot.infra.settings import Settings
from bot.observability.metrics import REGISTRY
from bot.runtime.serve import build_runtime
from storage import repo
from storage.db import Database
from storage.tables import OutboxMessage
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "42:DEAD-letters"


def _enqueue(db: Database, chat: int, text: str, now: datetime) -> None:
    with db.write() as session:
        repo.ensure_customer(session, f"c{chat}", now)
        repo.bind_identity(session, f"c{chat}", CHANNEL, str(chat), now)
        repo.enqueue_message(session, channel=CHANNEL, address=str(chat), payload={"text": text}, now=now)


def _rows(db: Database) -> dict[str, tuple[str, str | None, int]]:
    with db.read() as session:
        return {r.address: (r.status, r.dead_reason, r.attempts) for r in session.exec(select(OutboxMessage))}


def _dead_lettered(reason: str) -> float:
    labels = {"channel": CHANNEL, "reason": reason}
    return REGISTRY.get_sample_value("cxbot_outbox_dead_lettered_total", labels) or 0.0


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API on loopback."""
    async with FakeBotAPI(require_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def cx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """An app on a migrated SQLite file that the CLI (CXBOT_DATABASE_URL) reads too."""
    url = f"sqlite:///{tmp_path / 'dead.db'}"
    monkeypatch.setenv("CXBOT_DATABASE_URL", url)
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    app = build_app(Settings(database_url=url, _env_file=None))
    yield app
    app.db.dispose()


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    """cxbot's Bot API client on the fake."""
    client = make_bot(TOKEN, api.url)
    yield client
    await client.session.close()


def _sender(cx: App, bot: Bot, **retry: float) -> Sender:
    transport = TelegramTransport(bot, b"k" * 32)
    config = SenderConfig(retry=RetryPolicy(rng=Random(5), **retry))  # type: ignore[arg-type]
    return Sender(cx.db, CHANNEL, transport, clock=cx.service.clock, config=config)


async def test_dead_letter_is_visible_everywhere_and_sent_again(cx: App, api: FakeBotAPI, bot: Bot) -> None:
    """A 400 makes a dead letter (permanent), a blocked chat another (blocked): both in `cxbot
    status` and /metrics; /readyz stays 200 and names the permanent one; retry-dead resends it."""
    now = cx.service.clock()
    permanent_before = _dead_lettered("permanent")
    _enqueue(cx.db, 501, "hello", now)
    sender = _sender(cx, bot)
    api.fail_next("sendMessage", 400, description="Bad Request: message text is empty")
    assert await sender.drain() == {"failed": 1}
    _enqueue(cx.db, 502, "bye", now)
    api.block_chat(502)
    assert await sender.drain() == {"blocked": 1}
    assert _rows(cx.db) == {"501": ("failed", "permanent", 1), "502": ("failed", "blocked", 1)}
    assert _dead_lettered("permanent") == permanent_before + 1

    status = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "200"})
    assert status.exit_code == 0, status.output
    assert "outbox telegram failed (permanent)" in status.output
    assert (
        "outbox telegram failed (blocked)" in status.output and f"1, oldest {now:%Y-%m-%d}" in status.output
    )

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_runtime(cx).http_api()), base_url="http://cxbot"
    ) as http:
        metrics = (await http.get("/metrics")).text
        ready = await http.get("/readyz")
        assert 'cxbot_outbox_dead_letters{channel="telegram",reason="permanent"} 1.0' in metrics
        assert 'cxbot_outbox_dead_letters{channel="telegram",reason="blocked"} 1.0' in metrics
        assert ready.status_code == 200 and ready.json()["ready"] is True
        warning = ready.json()["warnings"]["outbox"]
        assert warning.startswith(
            f"1 outbox messages given up on: telegram 1 (permanent); oldest {now:%Y-%m-%d}"
        )
        assert "blocked" not in warning  # a customer's choice, not a fault to look at

        again = CliRunner().invoke(cli, ["outbox", "retry-dead"])
        assert again.exit_code == 0 and "1 dead letters back in the outbox" in again.output
        assert _rows(cx.db) == {"501": ("pending", None, 0), "502": ("failed", "blocked", 1)}  # still blocked
        assert await sender.drain() == {"sent": 1}
        assert [m["text"] for m in api.sent_messages(501)] == ["hello"]
        assert "outbox" not in (await http.get("/readyz")).json().get("warnings", {})


async def test_temporary_failures_until_the_last_attempt_make_an_exhausted_dead_letter(
    cx: App, api: FakeBotAPI, bot: Bot
) -> None:
    """5xx after 5xx: retried with the policy's waits, then a dead letter "exhausted", counted."""
    before = _dead_lettered("exhausted")
    _enqueue(cx.db, 601, "hello", cx.service.clock())
    sender = _sender(cx, bot, base=0.01, cap=0.02, max_attempts=3)
    api.fail_next("sendMessage", 502, count=3, html=True)
    outcomes = []
    for _ in range(40):  # the waits are tens of milliseconds on the running clock
        outcomes.append(await sender.drain())
        if _rows(cx.db)["601"][0] != "pending":
            break
        await asyncio.sleep(0.02)
    assert [c.status for c in api.calls_of("sendMessage")] == [502, 502, 502]
    assert _rows(cx.db) == {"601": ("failed", "exhausted", 3)}
    assert {"failed": 1} in outcomes and _dead_lettered("exhausted") == before + 1
    with cx.db.read() as session:
        (row,) = session.exec(select(OutboxMessage)).all()
    assert row.error is not None and "not_json" in row.error
