"""The service recovers by itself from a brief PostgreSQL loss and from a Bot API 5xx outage."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import func, select

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.delivery.sender import MemoryRateLimiter, SenderConfig
from bot.engine.wiring import App, build_app
from bot.infra.clock import utcnow
from bot.infra.retry import RetryPolicy
from bot.infra.settings import Settings
from storage.tables import OutboxMessage, Response
from tests.conftest import drop_pg_database, make_pg_database
from tests.fakes.bot_api import FakeBotAPI
from tests.faults.worker import TOKEN, seed


class TcpProxy:
    """A loopback TCP proxy on its own thread that can be stopped (connections cut) and restarted."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    def start(self) -> None:
        """Listen (on the same port as before, after a stop)."""
        self._run(self._start())

    def stop(self) -> None:
        """Stop listening and cut every open connection."""
        self._run(self._stop())

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _now() -> datetime:
    return utcnow()


async def _served(app: App) -> AsyncIterator[TelegramChannel]:
    channel = TelegramChannel(
        app,
        processor=ProcessorConfig(idle_interval=0.05),
        sender=SenderConfig(idle_interval=0.05, retry=RetryPolicy(base=0.1, cap=0.5)),
        limiter=MemoryRateLimiter(global_per_s=100, per_chat_interval=0.05),
        poll_timeout=1,
    )
    channel.poller.error_delay = 0.2  # type: ignore[union-attr]
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run(stop))
    try:
        yield channel
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _pending(app: App) -> int:
    with app.db.read() as session:
        statement = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
        return int(session.exec(statement).one())


def _responses(app: App) -> int:
    with app.db.read() as session:
        return int(session.exec(select(func.count()).select_from(Response)).one())


async def _until(done: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _safe(count: Callable[[], int]) -> Callable[[], int]:
    def wrapped() -> int:
        try:
            return count()
        except Exception:  # the database may be away
            return -1

    return wrapped


@pytest.mark.slow
# Connections cut under the pool are discarded by SQLAlchemy without psycopg's close() (it cannot
# talk to a dead server); psycopg warns when they are collected. That is the recovery working.
@pytest.mark.filterwarnings("ignore:.*was deleted while still open:ResourceWarning")
async def test_postgres_away_briefly_service_recovers(pg_server: str) -> None:
    """PostgreSQL unreachable for a few seconds (proxy cut): answers sent meanwhile are all stored after."""
    url, name = make_pg_database(pg_server)
    parts = urlsplit(url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    proxy.start()
    proxied = url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{proxy.port}")
    app: App | None = None
    try:
        async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
            app = build_app(
                Settings(database_url=proxied, telegram_token=TOKEN, telegram_api_url=api.url), clock=_now
            )
            chats = list(range(7001, 7021))
            assert seed(app.service, chats, _now()) == 20
            async for _ in _served(app):
                # Questions out and recorded as sent (a send whose record the cut interrupts is only
                # retried after its lease: that is the kill -9 case, tested in test_kill9.py).
                await _until(lambda: _pending(app) == 0, 10, "the questions recorded as sent")
                proxy.stop()
                for chat in chats:
                    api.push_message(chat, "5", language_code="en")
                await asyncio.sleep(2.5)
                assert _safe(lambda: _responses(app))() == -1  # really away
                proxy.start()
                await _until(lambda: _safe(lambda: _responses(app))() == 20, 30, "every answer stored")
                await api.wait_for(
                    lambda c: c.method == "sendMessage" and c.ok and "main reason" in c.params["text"],
                    20,
                    timeout=15,
                )
    finally:
        if app is not None:
            app.db.dispose()
        proxy.close()
        drop_pg_database(pg_server, name)


async def test_bot_api_outage_everything_delivered_after(tmp_path: Path) -> None:
    """The Bot API answers 502 for a while: questions and replies all go out afterwards, once each."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        app = build_app(
            Settings(
                database_url=f"sqlite:///{tmp_path / 'o.db'}", telegram_token=TOKEN, telegram_api_url=api.url
            ),
            clock=_now,
        )
        chats = list(range(8001, 8011))
        api.set_outage(1.5)
        assert seed(app.service, chats, _now()) == 10
        async for _ in _served(app):
            await _until(lambda: any(c.status == 502 for c in api.calls), 30, "the outage to be hit")
            await api.wait_for(lambda c: c.method == "sendMessage" and c.ok, 10, timeout=15)
            api.set_outage(1.0)
            for chat in chats:
                api.push_message(chat, "2", language_code="en")
            await _until(lambda: _responses(app) == 10, 15, "every answer stored")
            await api.wait_for(
                lambda c: c.method == "sendMessage" and c.ok and "main reason" in c.params["text"],
                10,
                timeout=15,
            )
        with app.db.read() as session:
            states = session.exec(select(OutboxMessage.status)).all()
        app.db.dispose()
    assert set(states) == {"sent"}
    sent = [c.chat_id for c in api.calls if c.method == "sendMessage" and c.ok]
    assert sorted(sent) == sorted(chats * 2)  # question + follow-up each, nothing twice
