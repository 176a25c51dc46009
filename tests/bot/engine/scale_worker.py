"""A `cxbot serve`-like worker for the scale-out test: loops run_due_work + the Telegram sender.

Usage: python scale_worker.py DB_URL API_URL NAME [--stall] [--timers-only] [--go FILE]

* ``--stall``: feed one batch of due surveys, then claim more due work and the outbox messages
  just written (2 s leases), print "stalled N M" and hang; the test SIGKILLs it: its leases must
  expire and be taken over by the others.
* ``--timers-only``: no sender (a worker killed at any instant of ``run_due_work`` loses nothing
  and duplicates nothing: each timer is fed and marked done in one transaction).
* Otherwise it prints "ready" once imported, starts when ``--go`` FILE exists, and exits after
  a few idle passes in a row (nothing due, nothing to send) or after 120 s (a liveness bound,
  generous for a loaded machine).

Due-work leases are short (2 s; a timer fed twice is a no-op for the engine); the sender's lease
is longer than any delivery pass, since a message whose lease lapses mid-send could go twice.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import timedelta
from pathlib import Path

from bot.channels.telegram.api import make_bot
from bot.channels.telegram.transport import TelegramTransport
from bot.delivery.limited_calls import limit_requests
from bot.delivery.sender import MemoryRateLimiter, Sender, SenderConfig
from bot.engine.service import Service
from bot.engine.timers import run_due_work
from bot.infra.clock import utcnow
from flows.journey import load_journey
from storage.claims import claim_due_work, claim_outbox
from storage.db import Database
from tests.clocks import install as install_test_clock

SHORT = timedelta(seconds=2)


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


async def main(args: argparse.Namespace) -> None:
    db = Database(args.db_url)
    service = Service(db, load_journey(None))
    if args.stall:
        fed = run_due_work(service, utcnow(), limit=25, owner=args.name, quiet=None, lease=SHORT)
        work = claim_due_work(db, args.name, utcnow(), limit=25, lease=SHORT)
        messages = claim_outbox(db, args.name, utcnow(), channels=("telegram",), limit=25, lease=SHORT)
        print(f"stalled {fed.get('fed', 0)} {len(work)} {len(messages)}", flush=True)
        await asyncio.sleep(3600)
    bot = make_bot("123:scale-test", args.api_url)
    limiter = MemoryRateLimiter(global_per_s=500.0, per_chat_interval=0.01)
    bot.session.middleware(limit_requests(limiter))
    sender = Sender(
        db,
        "telegram",
        TelegramTransport(bot, b"k" * 32),
        limiter,
        config=SenderConfig(batch=25, lease=timedelta(seconds=30)),
        owner=f"{args.name}:sender",
    )
    print("ready", flush=True)
    if args.go:
        await asyncio.to_thread(_wait_for, Path(args.go))
    idle, deadline = 0, time.monotonic() + 120
    while time.monotonic() < deadline and idle < 8:
        counts = await asyncio.to_thread(
            run_due_work, service, utcnow(), limit=10, owner=args.name, quiet=None, lease=SHORT
        )
        sent = 0 if args.timers_only else await sender.send_once()
        print(f"due {counts} sent {sent}", file=sys.stderr, flush=True)
        idle = 0 if counts or sent else idle + 1
        if idle:
            await asyncio.sleep(0.25)
    await bot.session.close()
    db.dispose()
    print("done", flush=True)


if __name__ == "__main__":
    install_test_clock()
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("api_url")
    parser.add_argument("name")
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--timers-only", action="store_true")
    parser.add_argument("--go")
    asyncio.run(main(parser.parse_args()))
