"""Benchmark: due surveys sent to many chats under Telegram's broadcast limit (~30 messages/s).

    .venv/bin/python bench/dispatch.py [--surveys 300] [--full]

``--surveys`` deliveries are ingested (SQLite file), then the due-work timer (bot.timers) and the
real outbox sender (bot.sender with the Telegram transport, aiogram) run until every question is
sent, against the fake Bot API enforcing Telegram's limits (30/s global, 1/s per chat; 429 with
retry_after beyond). Printed for the shipped limiter: the achieved
rate as a share of the 30/s cap (target ≥ 0.9), 429s received (target 0), lost and duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from typing import Any

from _common import TOKEN, RunningClock, database_url, delivered_event, peak_rss_mb
from sqlmodel import func, select

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.transport import CHANNEL, TelegramTransport
from bot.events.ingest import ingest_event
from bot.sender import MemoryRateLimiter, Sender, SenderConfig
from bot.settings import Settings
from bot.timers import run_due_work
from bot.wiring import build_app
from storage.tables import OutboxMessage
from tests.fakes.bot_api import FakeBotAPI

CAP = 30
FIRST_CHAT = 800_000


async def run(n: int, limiter: MemoryRateLimiter) -> dict[str, Any]:
    """Send ``n`` due surveys through ``limiter``; return the figures."""
    with database_url("sqlite") as url:
        async with FakeBotAPI(require_token=TOKEN, enforce_limits=True) as api:
            clock = RunningClock()
            app = build_app(
                Settings(database_url=url, telegram_token=TOKEN, telegram_api_url=api.url), clock=clock
            )
            chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
            for chat in chats:
                ingest_event(app.db, app.journey, delivered_event(f"c{chat}", chat, clock()), clock())
            sender = Sender(
                app.db,
                CHANNEL,
                TelegramTransport(make_bot(TOKEN, api.url), b"k" * 32),
                limiter,
                clock=clock,
                config=SenderConfig(idle_interval=0.05),
            )
            stop = asyncio.Event()

            async def timers() -> None:
                while not stop.is_set():
                    counts = await asyncio.to_thread(run_due_work, app.service, clock(), quiet=None)
                    if counts.get("fed"):
                        sender.wake.set()
                    await asyncio.sleep(0.1)

            started = time.monotonic()
            tasks = [asyncio.create_task(sender.run(stop)), asyncio.create_task(timers())]

            def pending() -> int:
                with app.db.read() as session:
                    return int(
                        session.exec(
                            select(func.count())
                            .select_from(OutboxMessage)
                            .where(OutboxMessage.status == "pending")
                        ).one()
                    )

            deadline = started + n / CAP * 4 + 30
            while (api.stats.sent < n or pending()) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the db
                await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*tasks)
            await sender.transport.bot.session.close()  # type: ignore[attr-defined]
            app.db.dispose()
            per_chat = Counter(chat for _, chat in api.stats.send_log)
            return {
                "rate": api.stats.send_rate(),
                "max_1s": api.stats.max_in_window(1.0),
                "rejected": api.stats.rejected_429,
                "lost": sum(1 for chat in chats if per_chat[chat] == 0),
                "duplicated": sum(count - 1 for count in per_chat.values() if count > 1),
            }


def main() -> None:
    """Run the shipped and the tuned limiter; print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--surveys", type=int, default=300)
    parser.add_argument("--full", action="store_true", help="3,000 surveys")
    args = parser.parse_args()
    n = 3000 if args.full else args.surveys
    print(f"surveys: {n}, cap {CAP} messages/s")
    variants = [("shipped limiter (MemoryRateLimiter())", MemoryRateLimiter())]
    for label, limiter in variants:
        r = asyncio.run(run(n, limiter))
        share = r["rate"] / CAP
        print(
            f"{label:<36} {r['rate']:5.1f}/s = {share:.2f} of the cap (target ≥ 0.9: "
            f"{'ok' if share >= 0.9 else 'MISSED'})   busiest second {r['max_1s']}   "
            f"429s {r['rejected']}   lost {r['lost']}   duplicated {r['duplicated']}"
        )
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
