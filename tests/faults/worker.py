"""A cxbot worker process for the kill -9 tests, plus the seeding helpers they share.

    python tests/faults/worker.py sender|channel DATABASE_URL BOT_API_URL

``sender`` runs only the outbox sender; ``channel`` runs the whole Telegram channel (poller,
inbox processor, sender). Leases are short so a restarted worker takes over what the killed one
had claimed within a couple of seconds. It runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.delivery.limited_calls import limit_requests
from bot.delivery.sender import MemoryRateLimiter, Sender, SenderConfig
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.engine.wiring import build_app
from bot.events.ingest import ingest_event
from bot.events.schema import BusinessEventIn
from bot.infra.clock import utcnow
from bot.infra.settings import Settings
from storage.db import Database
from tests.clocks import install as install_test_clock

TOKEN = "123456:FAULTS-token"
LEASE = timedelta(seconds=2)
SECRET = b"k" * 32


def seed(service: Service, chats: list[int], now: datetime) -> int:
    """Ingest a delivery per chat and feed the due CSAT questions into the outbox; return how many."""
    for chat in chats:
        event = BusinessEventIn.model_validate(
            {
                "event_id": f"evt-{chat}",
                "type": "order.delivered",
                "occurred_at": (now - timedelta(hours=3)).isoformat(),
                "customer": {"id": f"c{chat}", "language": "en", "telegram_chat_id": chat},
                "order": {"id": f"o-{chat}"},
            }
        )
        # Due at once whatever the hour: the seed is about delivery, not the sending window.
        ingest_event(service.db, service.journey, event, now, quiet=None)
    return run_due_work(service, now, limit=1000, quiet=None).get("fed", 0)


async def run_sender(url: str, api_url: str) -> None:
    """Deliver the outbox forever."""
    bot = make_bot(TOKEN, api_url)
    limiter = MemoryRateLimiter(global_per_s=40)
    bot.session.middleware(limit_requests(limiter))  # as the channel does: every call waits its slot
    sender = Sender(
        Database(url),
        CHANNEL,
        TelegramTransport(bot, SECRET),
        limiter,
        config=SenderConfig(idle_interval=0.05, lease=LEASE, concurrency=10),
    )
    await sender.run(asyncio.Event())


async def run_channel(url: str, api_url: str) -> None:
    """Run the Telegram channel (polling) forever."""
    settings = Settings(
        database_url=url, telegram_token=TOKEN, telegram_api_url=api_url, link_secret="faults"
    )
    app = build_app(settings, clock=utcnow)
    channel = TelegramChannel(
        app,
        processor=ProcessorConfig(idle_interval=0.05, lease=LEASE, batch=10),
        sender=SenderConfig(idle_interval=0.05, lease=LEASE, concurrency=10),
        limiter=MemoryRateLimiter(global_per_s=40, per_chat_interval=0.05),
        poll_timeout=1,
    )
    await channel.run(asyncio.Event())


if __name__ == "__main__":
    install_test_clock()
    print("ready", flush=True)  # imports done: the test's timeouts start now
    role, database_url, bot_api_url = sys.argv[1:4]
    asyncio.run((run_sender if role == "sender" else run_channel)(database_url, bot_api_url))
