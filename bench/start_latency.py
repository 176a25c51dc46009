"""Benchmark: how long after /start (from the deep link) the survey already due reaches the customer.

    .venv/bin/python bench/start_latency.py [--customers 40] [--backend sqlite] [--no-wake]

Each customer has a delivered order whose CSAT is due but waits for a chat (no chat known). One
at a time, the customer taps the deep link: the fake Bot API (tests/fakes/bot_api.py) queues
``/start <token>``; cxbot runs as ``cxbot serve`` runs it (bot.runtime.serve.Runtime with its default
5 s due-work tick, the Telegram channel polling with its production settings except a 1 s long
poll held by the fake). Measured: update queued → the question's sendMessage recorded at the fake
(and → the first reply). Since issue 16's last item the question comes in the welcome's own
message (``bot.engine.timers.due_at_start``), so both figures are one send; before, the welcome went
first and the sender's one message per second per chat put the question ~1.03 s after it (run
this script on an older checkout to compare). ``--no-wake`` turns off the due-work pass that
/start also asks for (it only matters for surveys /start leaves to it, e.g. in quiet hours).
Inputs are written by this script.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _common import TOKEN, RunningClock, database_url, percentile
from _webhook import free_port, wait_http

from tests.fakes.bot_api import Call, FakeBotAPI


async def run(n: int, backend: str, wake: bool) -> tuple[list[float], list[float]]:
    """Return the /start → question and /start → first reply latencies in seconds, per customer."""
    from bot.channels.telegram.channel import TelegramChannel
    from bot.engine.wiring import build_app
    from bot.events.ingest import ingest_event
    from bot.events.schema import BusinessEventIn
    from bot.infra.settings import Settings
    from bot.infra.supervision import Supervisor
    from bot.runtime.serve import Runtime
    from storage import links

    latencies: list[float] = []
    first: list[float] = []
    with database_url(backend) as url:
        async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
            clock = RunningClock()
            port = free_port()
            settings = Settings(
                database_url=url,
                telegram_token=TOKEN,
                telegram_api_url=api.url,
                link_secret="b",
                http_port=port,
            )
            app = build_app(settings, clock=clock)
            supervisor = Supervisor()
            channel = TelegramChannel(app, poll_timeout=1, supervisor=supervisor)
            # The production 5 s due-work tick.
            runtime = Runtime(app=app, supervisor=supervisor, channels=[channel])
            if not wake:
                channel.processor.on_due = lambda: None
            stop = asyncio.Event()
            task = asyncio.create_task(runtime.run(stop))
            await wait_http(f"http://127.0.0.1:{port}/healthz")
            await api.wait_for("getUpdates", 1, timeout=10)
            tokens: list[str] = []
            for i in range(n):
                now = clock()
                event = BusinessEventIn.model_validate(
                    {
                        "event_id": f"evt-{i}",
                        "type": "order.delivered",
                        "occurred_at": (now.replace(hour=7)).isoformat(),
                        "customer": {"id": f"c-{i}", "name": "Giulia", "language": "en"},
                        "order": {"id": f"o-{i}", "items": [{"name": "Moka"}]},
                    }
                )
                ingest_event(app.db, app.journey, event, now)
                with app.db.write() as session:
                    tokens.append(links.issue_token(session, f"c-{i}", now))
            await asyncio.sleep(6)  # one tick: every survey found no chat and waits for one
            try:
                for i, token in enumerate(tokens):
                    chat = 800_000 + i
                    started = time.monotonic()
                    api.push_message(chat, f"/start {token}", language_code="en")

                    def asked(c: Call, chat: int = chat) -> bool:
                        return (
                            c.method == "sendMessage"
                            and c.ok
                            and c.params["chat_id"] == chat
                            and "reply_markup" in c.params
                        )

                    await api.wait_for(asked, timeout=15)
                    latencies.append(time.monotonic() - started)
                    replies = [c for c in api.calls_of("sendMessage") if c.ok and c.params["chat_id"] == chat]
                    first.append(replies[0].at - started)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
            app.db.dispose()
    return latencies, first


def main() -> None:
    """Parse the options, run, print p50/p99/max."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=40)
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--no-wake", action="store_true")
    args = parser.parse_args()
    latencies, first = asyncio.run(run(args.customers, args.backend, not args.no_wake))
    label = "without wake (next tick)" if args.no_wake else "with /start wake"
    for what, values in (("due question", latencies), ("first reply", first)):
        ms = [x * 1000 for x in values]
        print(
            f"/start → {what}, {label}, {args.backend}, n={len(ms)}: "
            f"p50 {percentile(ms, 0.5):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms"
        )


if __name__ == "__main__":
    main()
