"""Benchmark: customers answering an open survey through the real Telegram channel vs a bare echo bot.

    .venv/bin/python bench/inbound.py [--customers 200] [--backends sqlite,postgresql] [--full]

N customers, each with an open CSAT survey, type their score at once through the loopback fake
Bot API (tests/fakes/bot_api.py). The cxbot side is the real channel in polling mode: poller →
durable inbox → processor (Service.feed, score stored) → outbox → sender → sendMessage. The
baseline is a bare aiogram Dispatcher with one handler echoing each message, polling the same
fake in the same process. Printed: answers/s of both and their ratio (target ≥ 0.5), p50/p99
latency (update pushed → reply recorded at the fake) and the process's peak RSS.

The sender's rate limiter is lifted here (the fake does not enforce limits in this bench): this
measures processing; Telegram's 30 messages/s are measured by bench/dispatch.py.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from _common import (
    TOKEN,
    RunningClock,
    backends,
    database_url,
    peak_rss_mb,
    percentile,
    seed_surveys,
)
from aiogram import Dispatcher
from aiogram.types import Message
from sqlmodel import func, select

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.processor import ProcessorConfig
from bot.sender import MemoryRateLimiter, SenderConfig
from bot.settings import Settings
from bot.wiring import build_app
from storage.tables import Response
from tests.fakes.bot_api import FakeBotAPI

FIRST_CHAT = 700_000


async def _push_and_wait(api: FakeBotAPI, chats: list[int], text: str, wait_s: float) -> dict[str, Any]:
    """Push one message per chat at once; wait for a reply to each; return rate and latencies."""
    pushed: dict[int, float] = {}
    start = time.monotonic()
    for chat in chats:
        pushed[chat] = time.monotonic()
        api.push_message(chat, text, language_code="en")
    wanted = set(chats)

    def replied(call: Any) -> bool:
        return call.method == "sendMessage" and call.ok and call.chat_id in wanted and call.at >= start

    await api.wait_for(replied, len(chats), timeout=wait_s)
    first: dict[int, float] = {}
    for call in api.calls:
        if replied(call) and call.chat_id not in first:
            first[call.chat_id] = call.at
    elapsed = max(first.values()) - start
    latencies = [(first[c] - pushed[c]) * 1000 for c in chats]
    return {
        "rate": len(chats) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
    }


async def echo_bot(n: int, wait_s: float) -> dict[str, Any]:
    """The baseline: a bare aiogram Dispatcher answering each message with its text."""
    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        bot = make_bot(TOKEN, api.url)
        dp = Dispatcher()

        @dp.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        task = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        await api.wait_for("getUpdates", 1, timeout=10)
        chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
        try:
            return await _push_and_wait(api, chats, "4", wait_s)
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(task, 10)
            await bot.session.close()


async def cxbot(backend: str, n: int, wait_s: float) -> dict[str, Any]:
    """The real channel on ``backend``: every answer stored, a follow-up question sent back."""
    with database_url(backend) as url:
        async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
            clock = RunningClock()
            settings = Settings(
                database_url=url, telegram_token=TOKEN, telegram_api_url=api.url, link_secret="bench"
            )
            app = build_app(settings, clock=clock)
            chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
            asked = seed_surveys(app.service, chats, clock())
            assert asked == n, f"only {asked} of {n} surveys were asked"
            channel = TelegramChannel(
                app,
                processor=ProcessorConfig(idle_interval=0.05),
                sender=SenderConfig(idle_interval=0.05),
                limiter=MemoryRateLimiter(global_per_s=1_000_000, per_chat_interval=0.0),
                poll_timeout=1,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(channel.run(stop))
            await api.wait_for("getUpdates", 1, timeout=10)
            try:
                result = await _push_and_wait(api, chats, "4", wait_s)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            with app.db.read() as session:
                stored = session.exec(select(func.count()).select_from(Response)).one()
            app.db.dispose()
            result["stored"] = stored
            return result


def main() -> None:
    """Run the baseline and cxbot on each backend; print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--full", action="store_true", help="2,000 customers")
    args = parser.parse_args()
    n = 2000 if args.full else args.customers
    timeout = max(60.0, n / 2)
    base = asyncio.run(echo_bot(n, timeout))
    print(f"customers: {n}")
    print(
        f"bare aiogram echo bot   {base['rate']:8.1f} answers/s   "
        f"p50 {base['p50']:7.1f} ms   p99 {base['p99']:7.1f} ms"
    )
    for backend in backends(args.backends):
        r = asyncio.run(cxbot(backend, n, timeout))
        ratio = r["rate"] / base["rate"]
        verdict = "ok" if ratio >= 0.5 else "MISSED"
        print(
            f"cxbot on {backend:<14} {r['rate']:8.1f} answers/s   "
            f"p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms   "
            f"ratio {ratio:.2f} (target ≥ 0.5: {verdict})   stored {r['stored']}/{n}"
        )
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
