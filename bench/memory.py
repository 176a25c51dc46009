"""Benchmark: resident memory must not grow with the number of stored conversations.

    .venv/bin/python bench/memory.py [--answers 3000] [--backends sqlite,postgresql] [--full]

One customer's open CSAT survey is created through the real service, then copied in bulk
(customers, channel identities, survey instances, conversations) to 1,000 customers
mid-conversation. The real inbox processor (bot.channels.telegram.processor, Service.feed per
answer, replies into the outbox) processes ``--answers`` typed scores; RSS is read. Then the
store grows to 100,000 conversations (``--full``: 1,000,000) and as many other customers answer;
RSS is read again. Printed: both readings and their ratio (target ≈ 1: flat), per backend.
With several backends each runs in its own process, so one backend's readings never start from
another's heap.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from typing import Any

from _common import (
    TOKEN,
    RunningClock,
    backends,
    current_rss_mb,
    database_url,
    peak_rss_mb,
    seed_surveys,
)
from sqlalchemy import insert, select

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.processor import InboxProcessor
from bot.channels.telegram.transport import CHANNEL
from bot.channels.telegram.updates import incoming
from bot.engine.wiring import App, build_app
from bot.infra.settings import Settings
from storage import inbox
from storage.tables import ChannelIdentity, Conversation, Customer, SurveyInstance

TEMPLATE_CHAT = 900_000_000
FIRST_CHAT = 1_000_000


def _rows(app: App, table: Any, where: Any) -> dict[str, Any]:
    with app.db.read() as session:
        row = session.connection().execute(select(table.__table__).where(where)).mappings().one()
    return dict(row)


def clone(app: App, start: int, stop: int, batch: int = 5000) -> None:
    """Copy the template customer's open survey to customers ``c<chat>`` for chats start..stop."""
    tid = f"c{TEMPLATE_CHAT}"
    customer = _rows(app, Customer, Customer.id == tid)
    identity = _rows(app, ChannelIdentity, ChannelIdentity.customer_id == tid)
    survey = _rows(
        app, SurveyInstance, (SurveyInstance.customer_id == tid) & (SurveyInstance.status == "sent")
    )
    conversation = _rows(app, Conversation, Conversation.customer_id == tid)
    identity.pop("id")
    for lo in range(start, stop, batch):
        chats = range(FIRST_CHAT + lo, FIRST_CHAT + min(stop, lo + batch))
        customers, identities, surveys, conversations = [], [], [], []
        for chat in chats:
            cid = f"c{chat}"
            customers.append({**customer, "id": cid})
            identities.append({**identity, "customer_id": cid, "address": str(chat)})
            sid = 10 + chat  # clear of the template's ids
            surveys.append({**survey, "id": sid, "customer_id": cid, "event_id": f"evt-{cid}"})
            state = dict(conversation["state"])
            state["active"] = {**state["active"], "survey_id": sid}
            conversations.append({**conversation, "customer_id": cid, "state": state})
        with app.db.write() as session:
            conn = session.connection()
            for table, rows in (
                (Customer, customers),
                (ChannelIdentity, identities),
                (SurveyInstance, surveys),
                (Conversation, conversations),
            ):
                # SQLModel sets __table__ when the class is made: its metaclass does not declare it.
                conn.execute(insert(table.__table__), rows)  # type: ignore[union-attr]


def _update(update_id: int, chat: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Giulia"},
            "from": {"id": chat, "is_bot": False, "first_name": "Giulia", "language_code": "en"},
            "text": "4",
        },
    }


async def answer(app: App, processor: InboxProcessor, chats: range) -> float:
    """Store one typed score per chat in the inbox and process them all; return answers/s."""
    rows = [row for row in (incoming(_update(chat, chat)) for chat in chats) if row is not None]
    inbox.store(app.db, CHANNEL, rows, app.service.clock())
    started = time.perf_counter()
    while await processor.process_once():
        pass
    return len(rows) / (time.perf_counter() - started)


async def bench(backend: str, answers: int, small: int, large: int) -> None:
    """Print RSS with ``small`` then ``large`` stored conversations."""
    with database_url(backend) as url:
        clock = RunningClock()
        # Migrated by a child process, as `cxbot serve` does (Alembic stays out of this heap).
        app = build_app(Settings(database_url=url, telegram_token=TOKEN), clock=clock, upgrade_in_child=True)
        seed_surveys(app.service, [TEMPLATE_CHAT], clock())
        bot = make_bot(TOKEN, "http://127.0.0.1:9")  # text answers never call the Bot API
        processor = InboxProcessor(app.service, bot, b"k" * 32)
        readings = []
        for stored, (lo, hi) in ((small, (0, small)), (large, (small, large))):
            started = time.perf_counter()
            clone(app, lo, hi)
            took = time.perf_counter() - started
            # Answers come from the customers just added, spread over their range.
            chats = range(FIRST_CHAT + lo, FIRST_CHAT + hi, max(1, (hi - lo) // answers))[:answers]
            rate = await answer(app, processor, chats)
            gc.collect()
            rss = current_rss_mb()
            readings.append(rss)
            print(
                f"{backend}: {stored:>9,} conversations stored (+{hi - lo:,} in {took:.1f} s)   "
                f"{len(chats):,} answers at {rate:6.1f}/s   RSS {rss:6.1f} MiB"
            )
        await bot.session.close()
        app.db.dispose()
        ratio = readings[1] / readings[0]
        verdict = "ok" if ratio <= 1.1 else "GREW"
        print(f"{backend}: RSS at {large:,} / at {small:,} = {ratio:.2f} (target ≤ 1.1: {verdict})")


def main() -> None:
    """Run the bench on each backend (in its own process when several); print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--answers", type=int, default=3000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--full", action="store_true", help="1,000,000 conversations")
    args = parser.parse_args()
    chosen = backends(args.backends)
    if len(chosen) > 1:
        for backend in chosen:  # a fresh process each: RSS readings of one backend only
            command = [sys.executable, __file__, "--answers", str(args.answers), "--backends", backend]
            subprocess.run(command + (["--full"] if args.full else []), check=True)
        return
    large = 1_000_000 if args.full else 100_000
    for backend in chosen:
        asyncio.run(bench(backend, args.answers, 1_000, large))
        print(f"{backend}: peak RSS of the process: {peak_rss_mb():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()
