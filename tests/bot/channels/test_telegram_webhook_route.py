"""The webhook's bare ASGI path answers exactly as its documented FastAPI route does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from bot.api.app import create_api
from bot.channels.telegram.webhook import PATH, SECRET_HEADER, webhook_router
from bot.engine.service import Service
from bot.engine.wiring import App
from bot.infra.settings import Settings
from flows.journey import Journey
from storage import inbox
from storage.db import Database

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
HOOK = "hook-secret"


def _update(update_id: int) -> dict[str, object]:
    chat = {"id": 40 + update_id, "type": "private", "first_name": "Giulia"}  # a chat per update
    sender = {"id": 40 + update_id, "is_bot": False, "first_name": "Giulia"}
    message = {"message_id": update_id, "date": 1, "chat": chat, "from": sender, "text": "4"}
    return {"update_id": update_id, "message": message}


def _client(api: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://testserver")


def _served(db: Database, journey: Journey) -> FastAPI:
    settings = Settings(database_url=db.url, webhook_secret=HOOK)
    app = App(settings=settings, db=db, journey=journey, service=Service(db, journey, clock=lambda: NOW))
    return create_api(app, [webhook_router(db, HOOK, lambda: NOW, lambda: None)])


async def _answers(client: httpx.AsyncClient, update_id: int) -> list[tuple[int, bytes, str]]:
    good = {SECRET_HEADER: HOOK, "Content-Type": "application/json"}
    posts = [
        await client.post(PATH, json=_update(update_id)),
        await client.post(PATH, json=_update(update_id), headers={SECRET_HEADER: "nope"}),
        await client.post(PATH, content=b"{not json", headers=good),
        await client.post(PATH, content=b"[1, 2]", headers=good),
        await client.post(PATH, json=_update(update_id), headers=good),
    ]
    return [(p.status_code, p.content, p.headers["content-type"]) for p in posts]


async def test_fast_path_and_documented_route_answer_alike(db: Database, journey: Journey) -> None:
    """Missing and wrong secrets, non-JSON and non-updates, a good update: same codes and bodies."""
    plain = FastAPI()  # the router alone: its FastAPI route answers, no fast path in front
    plain.include_router(webhook_router(db, HOOK, lambda: NOW, lambda: None))
    async with _client(_served(db, journey)) as fast, _client(plain) as documented:
        fast_answers = await _answers(fast, 1)
        documented_answers = await _answers(documented, 2)
    assert fast_answers == documented_answers
    assert [status for status, _, _ in fast_answers] == [401, 403, 400, 400, 200]
    assert fast_answers[-1][1] == b'{"ok":true}'
    assert len(inbox.claim(db, "telegram", NOW, limit=10)) == 2


async def test_fast_path_answers_503_when_the_database_fails(tmp_path: Path, journey: Journey) -> None:
    """An update that cannot be stored is answered 503 by the fast path, so Telegram sends it again."""
    broken = Database(f"sqlite:///{tmp_path / 'no-schema.db'}")  # never migrated: no inbox table
    async with _client(_served(broken, journey)) as client:
        answer = await client.post(PATH, json=_update(1), headers={SECRET_HEADER: HOOK})
    broken.dispose()
    assert answer.status_code == 503
    assert answer.json()["error"] == "unavailable"


def test_a_batch_with_a_repeat_stores_each_update_once(db: Database) -> None:
    """Updates stored together, one of them twice in the batch and one stored before: each kept once."""
    first = [inbox.Incoming(external_id="u-1", chat_key="c-1", payload={"n": 1})]
    assert inbox.store(db, "telegram", first, NOW) == 1
    batch = [inbox.Incoming(external_id=f"u-{n}", chat_key=f"c-{n}", payload={"n": n}) for n in (1, 2, 2, 3)]
    assert inbox.store(db, "telegram", batch, NOW) == 2
    assert inbox.store(db, "telegram", [], NOW) == 0
    assert len(inbox.claim(db, "telegram", NOW, limit=10)) == 3
