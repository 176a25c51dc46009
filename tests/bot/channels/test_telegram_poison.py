"""Poison-proof intake: an update aiogram's models would refuse never stops polling or the webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.observability.metrics import REGISTRY
from storage.tables import InboxUpdate
from tests.bot.channels.test_telegram_e2e import TOKEN, Harness, _has_buttons, _serve
from tests.fakes.bot_api import FakeBotAPI

GOOD = [555_101, 555_102, 555_103]


@pytest.fixture
async def polling(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in long-polling mode."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        async for harness in _serve(tmp_path, api, webhook=False):
            yield harness


@pytest.fixture
async def webhook(tmp_path: Path) -> AsyncIterator[Harness]:
    """A served bot in webhook mode; the fake POSTs its updates to our webhook."""
    async with FakeBotAPI(require_token=TOKEN, deliver_webhooks=True, webhook_retry_delay=0.05) as api:
        async for harness in _serve(tmp_path, api, webhook=True):
            await api.wait_for("setWebhook")
            yield harness


def _poison() -> list[dict[str, object]]:
    """Updates aiogram's ``Update`` model refuses (seen in the wild, see issue 16 / aiogram #1840)."""
    return [
        # ``from`` without is_bot/first_name
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 555_199, "type": "private"},
                     "from": {"id": 555_199}, "text": "/start"}},
        # a chat id that is not a number: a field cxbot reads is broken
        {"message": {"message_id": 2, "date": 0, "chat": {"id": "x", "type": "private"}, "text": "5"}},
    ]  # fmt: skip


def _skipped_count() -> float:
    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "cxbot_telegram_updates_skipped":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return total


async def _replay_poison_batch(h: Harness) -> None:
    tokens = [await h.deliver_event(f"c-{chat}", "en") for chat in GOOD]
    before = _skipped_count()
    with h.api.batch():
        h.api.push_message(GOOD[0], f"/start {tokens[0]}", language_code="en")
        for update in _poison():
            h.api.push_update(update)
        h.api.push_message(GOOD[1], f"/start {tokens[1]}", language_code="en")
        h.api.push_message(GOOD[2], f"/start {tokens[2]}", language_code="en")
    questions = await h.sent(lambda p: _has_buttons(p) and "delivery" in p["text"], 3)
    assert sorted(q.params["chat_id"] for q in questions) == GOOD
    # polling (or the webhook) goes on: a later message is answered too
    h.api.push_message(GOOD[0], "4", language_code="en")
    await h.sent(lambda p: p["chat_id"] == GOOD[0] and "main reason" in p["text"])
    with h.app.db.read() as session:
        rows = {r.external_id: r for r in session.exec(select(InboxUpdate))}
    errors = sorted(r.error for r in rows.values() if r.error and r.error.startswith("skipped"))
    assert len(errors) == 1 and errors[0].startswith("skipped: message.chat.id")
    assert all(r.processed_at is not None for r in rows.values())
    assert _skipped_count() - before == 1


async def test_malformed_update_among_good_ones_polling(polling: Harness) -> None:
    """Polling: a batch with updates aiogram refuses is stored; the good ones are all answered, the
    broken one is recorded as skipped and counted, and polling goes on."""
    await _replay_poison_batch(polling)
    assert polling.api.pending_updates() == []


async def test_malformed_update_among_good_ones_webhook(webhook: Harness) -> None:
    """Webhook: the same batch; every update is acknowledged with 200 and handled like in polling."""
    await _replay_poison_batch(webhook)
    assert all(d.status == 200 for d in webhook.api.webhook_deliveries)
