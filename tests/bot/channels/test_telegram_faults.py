"""Fault tests through the fake Bot API: HTML error pages, floods, outages and a crashing task.

Afterwards every question and answer is delivered exactly once, polling runs, and /readyz told
the truth meanwhile (Telegram's outage as detail, a crashing task as 503).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from bot.channels.telegram.channel import TelegramChannel
from tests.bot.channels.test_telegram_e2e import TOKEN, Harness, _has_buttons, _serve
from tests.fakes.bot_api import FakeBotAPI

CHATS = [556_001, 556_002, 556_003]


async def _readyz(h: Harness) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://127.0.0.1:{h.port}/readyz")


async def _ask_and_answer(h: Harness, tokens: list[str]) -> None:
    """Each chat taps its deep link, gets its question once, answers 4, is asked the reason once."""
    for chat, token in zip(CHATS, tokens, strict=True):
        h.api.push_message(chat, f"/start {token}", language_code="en")
    questions = await h.sent(lambda p: _has_buttons(p) and "delivery" in p["text"], len(CHATS))
    for chat in CHATS:
        h.api.push_message(chat, "4", language_code="en")
    await h.api.wait_for(
        lambda c: c.method == "sendMessage" and c.ok and "main reason" in c.params["text"],
        len(CHATS),
        timeout=10,
    )
    await asyncio.sleep(0.5)  # room for anything sent twice
    sent = Counter(
        (c.params["chat_id"], c.params["text"][:20]) for c in h.api.calls_of("sendMessage") if c.ok
    )
    assert all(count == 1 for count in sent.values()), sent
    assert sorted(q.params["chat_id"] for q in questions) == CHATS
    assert [r.score for r in h.responses()] == [4, 4, 4]
    assert h.api.pending_updates() == []


async def test_html_502_during_start_up_on_get_updates_and_on_sends(tmp_path: Path) -> None:
    """A proxy answers every Bot API call with an HTML 502 page for a while, from start-up on:
    Telegram is not left off, /readyz stays 200 showing the outage, and once the page goes
    away every question and answer is delivered exactly once."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        api.set_outage(6.0, html=True)
        async for h in _serve(tmp_path, api, webhook=False, wait_start=False):
            await api.wait_for(lambda c: c.status == 502, 2)  # start-up failed twice
            during = await _readyz(h)
            tokens = [await h.deliver_event(f"c-{chat}", "en") for chat in CHATS]
            await api.wait_for(lambda c: c.method == "setMyCommands" and c.ok, 3, timeout=15)
            await _ask_and_answer(h, tokens)
            after = await _readyz(h)
    assert during.status_code == 200, during.json()
    assert "not_json" in during.json()["channels"]["telegram"]
    assert after.status_code == 200 and after.json()["channels"]["telegram"] == "ok"


async def test_html_502_on_get_updates_alone_does_not_stop_polling(tmp_path: Path) -> None:
    """HTML 502 pages on getUpdates only (sends work): polling resumes once they stop."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for h in _serve(tmp_path, api, webhook=False):
            tokens = [await h.deliver_event(f"c-{chat}", "en") for chat in CHATS]
            api.fail_for("getUpdates", 502, 2.5, html=True)
            await api.wait_for(lambda c: c.method == "getUpdates" and c.status == 502, timeout=5)
            await _ask_and_answer(h, tokens)


async def test_flood_then_short_outage_on_sends(tmp_path: Path) -> None:
    """A 429 flood on every send, then a short 5xx outage: each message still goes exactly once."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for h in _serve(tmp_path, api, webhook=False):
            tokens = [await h.deliver_event(f"c-{chat}", "en") for chat in CHATS]
            api.fail_next("sendMessage", 429, count=6, retry_after=1)
            api.fail_next("sendMessage", 503, count=3)
            await _ask_and_answer(h, tokens)
            assert any(c.status == 429 for c in api.calls) and any(c.status == 503 for c in api.calls)


async def test_a_crashing_sender_is_restarted_and_delivers_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender task raises (a bug): it is restarted, and every message is still sent once."""
    crashes: list[int] = []
    original = TelegramChannel.__init__

    def patched(self: TelegramChannel, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        run = self.sender.run

        async def crash_once(stop: asyncio.Event) -> None:
            if not crashes:
                crashes.append(1)
                raise RuntimeError("sender bug")
            await run(stop)

        self.sender.run = crash_once  # type: ignore[method-assign]

    monkeypatch.setattr(TelegramChannel, "__init__", patched)
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for h in _serve(tmp_path, api, webhook=False):
            tokens = [await h.deliver_event(f"c-{chat}", "en") for chat in CHATS]
            await _ask_and_answer(h, tokens)
            ready = await _readyz(h)
    assert crashes == [1]
    assert ready.status_code == 200 and ready.json()["checks"]["task:telegram.sender"] == "ok"
