"""Body limits hold while streaming: an endless body is cut at the limit, never buffered whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from httpx import AsyncClient

from bot.api.app import create_api
from bot.api.events import MAX_BODY_BYTES
from bot.channels.telegram.webhook import MAX_BODY, PATH, SECRET_HEADER, webhook_router
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.journey import Journey
from storage.db import Database
from tests.hostile.conftest import Tally

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
HOOK = "hook-secret"
CHUNK = 16 * 1024


@pytest.fixture
def client(db: Database, journey: Journey) -> httpx.AsyncClient:
    """Return a client of the events API and the Telegram webhook on each database."""
    settings = Settings(database_url=db.url, events_secret="s", webhook_secret=HOOK)
    app = App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=lambda: NOW))
    api = create_api(app, [webhook_router(db, HOOK, lambda: NOW, lambda: None)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://testserver")


class Endless:
    """A chunked body that never ends, counting what the server pulled."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < 100 * MAX_BODY:  # a safety stop far beyond any limit
            self.sent += CHUNK
            yield b" " * CHUNK


@pytest.mark.parametrize(
    ("path", "limit", "headers"),
    [(PATH, MAX_BODY, {SECRET_HEADER: HOOK}), ("/v1/events", MAX_BODY_BYTES, {})],
)
async def test_endless_chunked_body_is_cut_at_the_limit(
    client: AsyncClient, tally: Tally, path: str, limit: int, headers: dict[str, str]
) -> None:
    """A chunked body without end is answered 413 after at most limit + one chunk was read."""
    body = Endless()
    answer = await client.post(path, content=body, headers={"Content-Type": "application/json", **headers})
    tally.probe(answer.status_code)
    assert answer.status_code == 413
    assert body.sent <= limit + 2 * CHUNK, body.sent


async def test_declared_oversize_is_refused_before_reading(client: AsyncClient, tally: Tally) -> None:
    """A Content-Length over the limit is refused without reading a byte of the body."""
    body = Endless()
    headers = {SECRET_HEADER: HOOK, "Content-Length": str(MAX_BODY + 1), "Content-Type": "application/json"}
    answer = await client.post(PATH, content=body, headers=headers)
    tally.probe(answer.status_code)
    assert answer.status_code == 413
    assert body.sent <= CHUNK
