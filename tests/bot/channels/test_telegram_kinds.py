"""Every kind of message end to end through the fake Bot API: media, edits, block and unblock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.channels.telegram import texts
from flows.scales import Lang
from storage.tables import ChannelIdentity, InboxUpdate
from tests.bot.channels.test_telegram_e2e import TOKEN, Harness, _has_buttons, _serve
from tests.fakes.bot_api import FakeBotAPI

CHAT = 557_001


@pytest.fixture
async def polling(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in long-polling mode."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for harness in _serve(tmp_path, api, webhook=False):
            yield harness


def _message(h: Harness, message_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": int(h.clock().timestamp()),
        "chat": {"id": CHAT, "type": "private", "first_name": "Ada"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Ada", "language_code": "it"},
        **fields,
    }


def _member(status_from: str, status_to: str) -> dict[str, Any]:
    bot = {"id": 1, "is_bot": True, "first_name": "bot"}
    return {
        "my_chat_member": {
            "chat": {"id": CHAT, "type": "private", "first_name": "Ada"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ada"},
            "date": 0,
            "old_chat_member": {"user": bot, "status": status_from},
            "new_chat_member": {"user": bot, "status": status_to},
        }
    }


async def _asked(h: Harness) -> dict[str, Any]:
    token = await h.deliver_event("c-k", "it")
    h.api.push_message(CHAT, f"/start {token}", language_code="it")
    (question,) = await h.sent(lambda p: _has_buttons(p) and "consegna" in p["text"])
    return dict(question.params)


async def test_media_gets_a_polite_answer_then_the_open_question_again(polling: Harness) -> None:
    """A voice note while a question is open: "I only understand text…" in Italian, then the same
    question with its buttons again; a captioned photo is read as the text of its caption."""
    h = polling
    question = await _asked(h)
    h.api.push_update({"message": _message(h, 900, voice={"file_id": "v", "duration": 3})})
    await h.sent(lambda p: p["text"] == texts.text("media", Lang.IT))
    again = await h.sent(lambda p: _has_buttons(p) and p["text"] == question["text"], 2)
    assert again[1].params["reply_markup"] == question["reply_markup"]
    h.api.push_update({"message": _message(h, 901, photo=[{"file_id": "p"}], caption="due")})
    await h.sent(lambda p: "Qual è il motivo principale" in p["text"])
    assert [r.score for r in h.responses()] == [2]


async def test_an_edit_answers_the_still_open_question_else_it_is_ignored(polling: Harness) -> None:
    """Editing a message written while the question is open answers it; editing it again once the
    question moved on is ignored and recorded."""
    h = polling
    await _asked(h)
    h.api.push_update({"message": _message(h, 910, text="qwerty")})
    await h.sent(lambda p: "non ho capito" in p["text"])  # not understood: asked again
    h.api.push_update({"edited_message": _message(h, 910, text="4", edit_date=0)})
    await h.sent(lambda p: "Qual è il motivo principale" in p["text"])
    h.api.push_update({"edited_message": _message(h, 910, text="5", edit_date=0)})
    h.api.push_message(CHAT, "tutto bene")
    await h.sent(lambda p: p["text"].startswith("Grazie, ci aiuta molto"))
    assert [r.score for r in h.responses()] == [4]
    with h.app.db.read() as session:
        errors = [r.error for r in session.exec(select(InboxUpdate))]
    assert "ignored: edited_message (no open question)" in errors


async def test_block_and_unblock_are_noticed_from_my_chat_member(polling: Harness) -> None:
    """The customer blocks the bot: the identity is marked blocked at once (no failed send needed);
    unblocking marks it reachable again."""
    h = polling
    await _asked(h)

    def blocked() -> Any:
        with h.app.db.read() as session:
            return session.exec(select(ChannelIdentity)).one().blocked_at

    h.api.push_update(_member("member", "kicked"))
    await _until(lambda: blocked() is not None)
    h.api.push_update(_member("kicked", "member"))
    await _until(lambda: blocked() is None)
    assert "my_chat_member" in h.api.calls_of("getUpdates")[-1].params["allowed_updates"]


async def _until(condition: Any, limit: float = 5.0) -> None:
    import asyncio

    for _ in range(int(limit / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")
