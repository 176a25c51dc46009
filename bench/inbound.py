"""Benchmark: customers answering an open survey through the real Telegram channel vs a bare echo bot.

    .venv/bin/python bench/inbound.py [--customers 200] [--backends sqlite,postgresql]
                                      [--modes polling,webhook] [--full] [--repeat 3]

N customers, each with an open CSAT survey, type their score at once; the replies are recorded by
the loopback fake Bot API (tests/fakes/bot_api.py). Two ways in (``--modes``):

* polling: the updates wait in the fake; cxbot's real channel polls them: poller → durable
  inbox → processor (Service.feed, score stored) → outbox → sender → sendMessage. The baseline
  is a bare aiogram Dispatcher with one handler echoing each message, polling the same fake.
* webhook: the bench plays Telegram and POSTs the updates (secret header, 40 connections, see
  bench/_webhook.py) over HTTP on 127.0.0.1 to cxbot's webhook route; the update is answered
  200 once it is in the inbox, then processor → outbox → sender as above. The baseline is the
  same echo Dispatcher behind aiogram's stock SimpleRequestHandler (answers 200 first, handles
  later).

cxbot runs the way ``cxbot serve`` runs it (bot.runtime.serve.Runtime: uvicorn and the API, the
channel's components; ``settle_heap()`` once built). Every run of every contender is a fresh
process that imports only what it runs: the echo baseline is stock aiogram, with neither cxbot's
modules nor its runtime tuning, and a process-wide cache or collector setting of one contender
cannot help or hurt the other.

Each run first lets WARM_UP customers answer, unmeasured (a fresh process warms its caches).
Printed per mode: answers/s of both and their ratio, p50/p99 latency (update
handed over → reply recorded at the fake), CPU per answer (the process's CPU time while the
customers answered / answers) and each contender's peak RSS (and cxbot's ÷ the echo bot's,
target ≤ 1.2). Targets (issue 20): ≥ 0.6 of the echo bot on SQLite, ≥ 0.45 on PostgreSQL.
Webhook lines start "webhook: ".

The sender's rate limiter is lifted here (the fake does not enforce limits in this bench): this
measures processing; Telegram's 30 messages/s are measured by bench/dispatch.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import subprocess
import sys
import time
from typing import Any

from _common import TOKEN, RunningClock, backends, database_url, peak_rss_mb, percentile, seed_surveys
from _webhook import SECRET, Deliver, echo_webhook_server, free_port, poster, wait_http

from tests.fakes.bot_api import FakeBotAPI

MODES = ("polling", "webhook")
FIRST_CHAT = 700_000
#: Issue 20's goals: answers/s of cxbot ÷ the echo bot's, per backend.
TARGETS = {"sqlite": 0.6, "postgresql": 0.45}
#: Customers answering first, unmeasured: a fresh process builds its models and caches on its
#: first messages, and both contenders would pay that inside the measured burst otherwise.
WARM_UP = 20


def pusher(api: FakeBotAPI) -> Deliver:
    """Return a ``Deliver`` queueing one message per chat in the fake, for the bot to poll."""

    async def deliver(chats: list[int], text: str) -> dict[int, float]:
        handed: dict[int, float] = {}
        for chat in chats:
            handed[chat] = time.monotonic()
            api.push_message(chat, text, language_code="en")
        return handed

    return deliver


def _cpu_s() -> float:
    """Return this process's CPU time so far (user + system), in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _push_and_wait(
    api: FakeBotAPI, chats: list[int], text: str, wait_s: float, deliver: Deliver
) -> dict[str, Any]:
    """Hand one message per chat to the bot at once; wait for a reply to each; return the figures."""
    start = time.monotonic()
    cpu_start = _cpu_s()
    wanted = set(chats)

    def replied(call: Any) -> bool:
        return call.method == "sendMessage" and call.ok and call.chat_id in wanted and call.at >= start

    handing = asyncio.create_task(deliver(chats, text))
    waiting = asyncio.create_task(api.wait_for(replied, len(chats), timeout=wait_s))
    try:
        await asyncio.wait({handing, waiting}, return_when=asyncio.FIRST_EXCEPTION)
        handed = await handing  # a refused webhook POST ends the run here, not at the timeout
        await waiting
    finally:
        waiting.cancel()
    cpu = _cpu_s() - cpu_start
    first: dict[int, float] = {}
    for call in api.calls:
        if replied(call) and call.chat_id not in first:
            first[call.chat_id] = call.at
    elapsed = max(first.values()) - start
    latencies = [(first[c] - handed[c]) * 1000 for c in chats]
    return {
        "rate": len(chats) / elapsed,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "cpu_ms": cpu / len(chats) * 1000,
    }


async def echo_bot(mode: str, n: int, wait_s: float) -> dict[str, Any]:
    """The baseline: a stock aiogram Dispatcher answering each message with its text."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message

    async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))
        dp = Dispatcher()

        @dp.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        chats, warm = _chats(n)
        if mode == "webhook":
            try:
                async with echo_webhook_server(dp, bot) as url:
                    await _push_and_wait(api, warm, "4", wait_s, poster(api, url, first_update=n + 1))
                    return await _push_and_wait(api, chats, "4", wait_s, poster(api, url))
            finally:
                await bot.session.close()
        task = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
        await api.wait_for("getUpdates", 1, timeout=10)
        try:
            await _push_and_wait(api, warm, "4", wait_s, pusher(api))
            return await _push_and_wait(api, chats, "4", wait_s, pusher(api))
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(task, 10)
            await bot.session.close()


async def cxbot(backend: str, mode: str, n: int, wait_s: float) -> dict[str, Any]:
    """The real channel on ``backend``, run as ``cxbot serve`` runs it: every answer stored, a
    follow-up question sent back."""
    from sqlmodel import func, select

    from bot.channels.telegram.channel import TelegramChannel
    from bot.channels.telegram.processor import ProcessorConfig
    from bot.channels.telegram.webhook import PATH
    from bot.delivery.sender import MemoryRateLimiter, SenderConfig
    from bot.engine.wiring import build_app
    from bot.infra.settings import Settings
    from bot.infra.supervision import Supervisor
    from bot.runtime.serve import Runtime, settle_heap
    from storage.tables import Response

    with database_url(backend) as url:
        async with FakeBotAPI(require_token=TOKEN, poll_timeout_cap=1.0) as api:
            clock = RunningClock()
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            webhook: dict[str, Any] = (
                {"webhook_secret": SECRET, "public_url": base} if mode == "webhook" else {}
            )
            settings = Settings(
                database_url=url,
                telegram_token=TOKEN,
                telegram_api_url=api.url,
                link_secret="bench",
                http_port=port,
                **webhook,
            )
            app = build_app(settings, clock=clock, upgrade_in_child=True)  # as `cxbot serve` does
            chats, warm = _chats(n)
            asked = seed_surveys(app.service, chats + warm, clock())
            assert asked == n + WARM_UP, f"only {asked} of {n + WARM_UP} surveys were asked"
            supervisor = Supervisor()
            channel = TelegramChannel(
                app,
                processor=ProcessorConfig(idle_interval=0.05),
                sender=SenderConfig(idle_interval=0.05),
                limiter=MemoryRateLimiter(global_per_s=1_000_000, per_chat_interval=0.0),
                poll_timeout=1,
                supervisor=supervisor,
            )
            # The surveys are seeded, so no due work to tick meanwhile.
            runtime = Runtime(app=app, due_work_interval=3600.0, supervisor=supervisor, channels=[channel])
            settle_heap()  # as `cxbot serve` does once the app is built
            stop = asyncio.Event()
            task = asyncio.create_task(runtime.run(stop))
            await wait_http(f"{base}/healthz")
            if mode == "webhook":
                await api.wait_for("setWebhook", 1, timeout=10)
                deliver, warm_deliver = poster(api, base + PATH), poster(api, base + PATH, first_update=n + 1)
            else:
                await api.wait_for("getUpdates", 1, timeout=10)
                deliver = warm_deliver = pusher(api)
            try:
                await _push_and_wait(api, warm, "4", wait_s, warm_deliver)
                result = await _push_and_wait(api, chats, "4", wait_s, deliver)
            finally:
                stop.set()
                await asyncio.wait_for(task, 30)
                _default_signals()
            with app.db.read() as session:
                stored = session.exec(select(func.count()).select_from(Response)).one()
            app.db.dispose()
            result["stored"] = stored
            return result


def _chats(n: int) -> tuple[list[int], list[int]]:
    """Return the measured customers' chats and the warm-up customers' chats."""
    return list(range(FIRST_CHAT, FIRST_CHAT + n)), list(range(FIRST_CHAT + n, FIRST_CHAT + n + WARM_UP))


def _default_signals() -> None:
    """Give Ctrl-C back to Python after a Runtime took it (it sets its stop event)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def run_child(contender: str, mode: str, n: int) -> None:
    """Run one contender once in this (fresh) process; print its figures as one JSON line."""
    timeout = max(60.0, n / 2)
    if contender == "echo":
        result = asyncio.run(echo_bot(mode, n, timeout))
    else:
        result = asyncio.run(cxbot(contender, mode, n, timeout))
    result["rss"] = peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def _spawn(contender: str, mode: str, n: int) -> dict[str, Any]:
    """Run ``contender`` in a fresh process; return its figures.

    Raises:
        RuntimeError: when the run fails (its output is shown).
    """
    command = [sys.executable, __file__, "--child", contender, "--modes", mode, "--customers", str(n)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"{contender} ({mode}) failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the fastest of repeated runs (the one least disturbed by the rest of the machine)."""
    return max(runs, key=lambda r: r["rate"])


def run_mode(mode: str, n: int, requested: str, repeat: int = 3) -> None:
    """Run the baseline and cxbot on each backend in ``mode``, best of ``repeat``; print the figures.

    The runs alternate (echo, each backend, echo, …) so a busy spell of the machine hits both.
    """
    prefix = "" if mode == "polling" else f"{mode}: "  # the polling lines read as they always did
    chosen = backends(requested)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ["echo", *chosen]}
    for _ in range(repeat):
        for contender in runs:
            runs[contender].append(_spawn(contender, mode, n))
    base = _best(runs["echo"])
    print(f"{prefix}customers: {n} (best of {repeat} alternating runs, each in a fresh process)")
    print(
        f"{prefix}bare aiogram echo bot   {base['rate']:8.1f} answers/s   "
        f"p50 {base['p50']:7.1f} ms   p99 {base['p99']:7.1f} ms   "
        f"CPU {base['cpu_ms']:.2f} ms/answer   peak RSS {base['rss']:.0f} MiB"
    )
    for backend in chosen:
        r = _best(runs[backend])
        stored = min(run["stored"] for run in runs[backend])  # every run must have stored every answer
        ratio = r["rate"] / base["rate"]
        target = TARGETS[backend]
        verdict = "ok" if ratio >= target else "MISSED"
        print(
            f"{prefix}cxbot on {backend:<14} {r['rate']:8.1f} answers/s   "
            f"p50 {r['p50']:7.1f} ms   p99 {r['p99']:7.1f} ms   "
            f"CPU {r['cpu_ms']:.2f} ms/answer   peak RSS {r['rss']:.0f} MiB   "
            f"ratio {ratio:.2f} (target ≥ {target}: {verdict})   "
            f"RSS ÷ echo {r['rss'] / base['rss']:.2f} (target ≤ 1.2)   "
            f"stored {stored}/{n + WARM_UP} (with the warm-up) in each run",
            flush=True,
        )


def main() -> None:
    """Run each requested mode; print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default=",".join(MODES), help="polling, webhook or both")
    parser.add_argument("--full", action="store_true", help="2,000 customers")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs; the best of each is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one run of one contender (internal)
    args = parser.parse_args()
    n = 2000 if args.full else args.customers
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown or not modes:
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    if args.child:
        run_child(args.child, modes[0], n)
        return
    for mode in modes:
        run_mode(mode, n, args.backends, args.repeat)


if __name__ == "__main__":
    main()
