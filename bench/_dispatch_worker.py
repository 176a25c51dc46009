"""One ``cxbot serve``-like worker for bench/dispatch.py: timers, the Telegram channel's inbox
processor and sender (and, with ``--poll``, its poller), until the stop file appears.

    python bench/_dispatch_worker.py DB_URL API_URL --budget memory|database --go FILE --stop FILE [--poll]

It prints "ready" once built, starts when the go file exists, and at the end one JSON line with
its limiter's figures and the CPU seconds it used from go to stop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from _common import TOKEN, RunningClock


async def main(args: argparse.Namespace) -> None:
    from bot.channels.telegram.channel import TelegramChannel
    from bot.engine.timers import run_due_work
    from bot.engine.wiring import build_app
    from bot.infra.settings import Settings
    from bot.observability.logs import configure_logging

    configure_logging("WARNING")
    clock = RunningClock()
    settings = Settings(
        database_url=args.db_url,
        telegram_token=TOKEN,
        telegram_api_url=args.api_url,
        outbound_budget=args.budget,
    )
    app = build_app(settings, clock=clock, upgrade=False)  # migrated by the bench
    channel = TelegramChannel(app, poll_timeout=1)  # the shipped intervals, as `cxbot serve`
    stop = asyncio.Event()
    print("ready", flush=True)
    go, stop_file = Path(args.go), Path(args.stop)
    while not go.exists():  # noqa: ASYNC110, ASYNC240 - a file from another process; a cheap stat
        await asyncio.sleep(0.02)

    async def timers() -> None:
        while not stop.is_set():
            counts = await asyncio.to_thread(run_due_work, app.service, clock(), quiet=None)
            if counts.get("fed"):
                channel.sender.wake.set()
            await asyncio.sleep(1.0)

    async def watch() -> None:
        while not stop_file.exists():  # noqa: ASYNC110, ASYNC240 - a file from another process
            await asyncio.sleep(0.1)
        stop.set()

    parts = [channel.processor.run(stop), channel.sender.run(stop), timers(), watch()]
    if args.poll and channel.poller is not None:
        parts.append(channel.poller.run(stop))
    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*parts)
    cpu = time.process_time() - cpu
    await channel.bot.session.close()
    app.db.dispose()
    limiter = channel.limiter
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "cpu_s": cpu,
                "missed_slots": getattr(limiter, "missed", 0),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("api_url")
    parser.add_argument("--budget", choices=("memory", "database"), required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--stop", required=True)
    parser.add_argument("--poll", action="store_true")
    asyncio.run(main(parser.parse_args()))
