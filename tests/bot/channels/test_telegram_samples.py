"""Real-world Telegram update shapes (tests/bot/channels/telegram_samples, see SOURCES.md) replayed
through long polling and through the webhook against the fake Bot API: nothing stops intake,
and each update gets its documented outcome (the ``expect`` field of each sample)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.telegram import texts
from flows.scales import Lang
from storage.tables import InboxUpdate, OutboxMessage
from tests.bot.channels.test_telegram_e2e import TOKEN, Harness, _serve
from tests.fakes.bot_api import FakeBotAPI

SAMPLES = Path(__file__).parent / "telegram_samples"
MEDIA_TEXTS = {texts.text("media", lang) for lang in Lang}
REFUSED = {texts.text("bad_button", lang) for lang in Lang}


def load_samples() -> list[dict[str, Any]]:
    """Every sample of every source file, in file order."""
    samples: list[dict[str, Any]] = []
    for path in sorted(SAMPLES.glob("*.json")):
        data = json.loads(path.read_text())
        samples += [dict(sample, source=path.name) for sample in data["samples"]]
    return samples


def _chat_of(update: dict[str, Any]) -> Any:
    kind = next(k for k in update if k != "update_id")
    part = update[kind]
    message = part.get("message", part) if kind == "callback_query" else part
    chat = message.get("chat") if isinstance(message, dict) else None
    return chat.get("id") if isinstance(chat, dict) else None


@pytest.fixture
async def polling(tmp_path: Path) -> AsyncIterator[Harness]:
    """Long polling; the fake serves every kind (as if allowed_updates were ignored)."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0, honour_allowed_updates=False) as api:
        async for harness in _serve(tmp_path, api, webhook=False):
            yield harness


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Harness]:
    """Webhook mode; the fake POSTs every update to our webhook."""
    async with FakeBotAPI(require_token=TOKEN, deliver_webhooks=True, webhook_retry_delay=0.05) as api:
        async for harness in _serve(tmp_path, api, webhook=True):
            await api.wait_for("setWebhook")
            yield harness


async def _replay(h: Harness) -> dict[str, str]:
    """Push every sample (renumbered in order) and return ``{name: problem}`` for wrong outcomes."""
    samples = load_samples()
    with h.api.batch():
        for sample in samples:
            update = dict(sample["update"])
            update.pop("update_id", None)
            sample["pushed"] = h.api.push_update(update)
    rows: dict[str, InboxUpdate] = {}
    for _ in range(300):
        with h.app.db.read() as session:
            rows = {r.external_id: r for r in session.exec(select(InboxUpdate))}
        if len(rows) == len(samples) and all(r.processed_at is not None for r in rows.values()):
            break
        await asyncio.sleep(0.05)
    for _ in range(400):  # every reply went out (several samples share a chat: 1 message at a time)
        with h.app.db.read() as session:
            pending = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).first()
        if pending is None:
            break
        await asyncio.sleep(0.05)
    problems: dict[str, str] = {}
    for sample in samples:
        pushed = sample["pushed"]
        row = rows.get(str(pushed["update_id"]))
        if row is None or row.processed_at is None:
            problems[sample["name"]] = "not stored or not processed"
            continue
        problem = _check(h, sample["expect"], pushed, row.error)
        if problem:
            problems[f"{sample['source']}: {sample['name']}"] = problem
    return problems


def _check(h: Harness, expect: str, update: dict[str, Any], error: str | None) -> str | None:
    chat = _chat_of(update)
    sent = [
        c.params.get("text", "")
        for c in h.api.calls_of("sendMessage")
        if c.ok and c.params["chat_id"] == chat
    ]
    answers = [c for c in h.api.calls_of("answerCallbackQuery")]
    if expect == "reply":
        answered = error is None or error.startswith("stranger: ")  # unknown chats: nothing stored
        return None if answered and sent else f"error={error!r} sent={len(sent)}"
    if expect.startswith("media:"):
        ok = error == f"media: {expect[6:]}" and any(t in MEDIA_TEXTS for t in sent)
        return None if ok else f"error={error!r} sent={sent}"
    if expect.startswith("ignored:"):
        return None if (error or "").startswith(f"ignored: {expect[8:]}") else f"error={error!r}"
    if expect == "skipped":
        return None if (error or "").startswith("skipped: ") else f"error={error!r}"
    if expect in ("blocked", "unblocked"):
        return None if error is None and not sent else f"error={error!r} sent={sent}"
    query_id = update.get("callback_query", {}).get("id")
    mine = [c for c in answers if c.params.get("callback_query_id") == query_id]
    if expect == "press_refused":
        return None if mine and mine[0].params.get("text") in REFUSED else f"answers={mine}"
    if expect == "press_ignored":
        ok = (
            bool(mine)
            and not mine[0].params.get("text")
            and (error or "").startswith("ignored: callback_query")
        )
        return None if ok else f"error={error!r} answers={mine}"
    return f"unknown expectation {expect}"


def test_samples_cover_twenty_kinds_from_three_sources() -> None:
    """At least 20 distinct update kinds (message subtypes counted apart) from 3+ public sources."""
    samples = load_samples()
    kinds = set()
    for sample in samples:
        update = sample["update"]
        kind = next(k for k in update if k != "update_id")
        part = update[kind]
        detail = next((k for k in ("text", "caption", *_MEDIA, "pinned_message") if k in part), "")
        kinds.add(f"{kind}:{detail}:{_chat_type(part)}")
    assert len({s["source"] for s in samples}) >= 3
    assert len(kinds) >= 20, sorted(kinds)


_MEDIA = ("voice", "video_note", "sticker", "animation", "video", "audio", "photo", "document",
          "location", "contact", "poll", "dice", "story")  # fmt: skip


def _chat_type(part: dict[str, Any]) -> str:
    chat = part.get("chat") or (part.get("message") or {}).get("chat") or {}
    return str(chat.get("type", "")) if isinstance(chat, dict) else ""


async def test_samples_replayed_through_polling(polling: Harness) -> None:
    """Polling: every sample is stored, processed once with its documented outcome; polling runs on."""
    assert await _replay(polling) == {}
    assert polling.api.pending_updates() == []
    polling.api.push_message(555_777, "/start", language_code="en")
    await polling.sent(lambda p: p["chat_id"] == 555_777)


async def test_samples_replayed_through_the_webhook(webhook: Harness) -> None:
    """Webhook: the same samples, each acknowledged with 200 and given the same outcome."""
    assert await _replay(webhook) == {}
    assert webhook.api.webhook_deliveries and all(d.status == 200 for d in webhook.api.webhook_deliveries)
