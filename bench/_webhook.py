"""Webhook plumbing for bench/inbound.py: Telegram's side of a webhook, played by the bench.

The fake Bot API records the replies, but its own webhook delivery (``deliver_webhooks``) sends
one update at a time and so would measure a round trip, not throughput. The bench POSTs the
updates itself over real HTTP on 127.0.0.1 with the secret header, at most ``MAX_CONNECTIONS``
at a time (Telegram's default ``max_connections``), and checks every answer is 200 (Telegram
would deliver a refused update again).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.fakes.bot_api import FakeBotAPI

SECRET = "bench-webhook-secret"  # a throwaway value for loopback
# Telegram's header (bot.channels.telegram.webhook.SECRET_HEADER): not imported, so that the echo
# baseline's process holds no cxbot module.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CONNECTIONS = 40

#: Hands the customers' messages to the bot; returns when each was handed over (monotonic).
Deliver = Callable[[list[int], str], Coroutine[Any, Any, dict[int, float]]]


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def text_update(update_id: int, chat: int, text: str) -> dict[str, Any]:
    """Return a Telegram update: ``text`` typed by the private chat ``chat`` (an English speaker)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "Giulia"},
            "from": {"id": chat, "is_bot": False, "first_name": "Giulia", "language_code": "en"},
            "text": text,
        },
    }


def poster(api: FakeBotAPI, url: str, first_update: int = 1) -> Deliver:
    """Return a ``Deliver`` POSTing one update per chat to the webhook at ``url``, numbered from
    ``first_update`` (update ids must not repeat: a repeated one is a duplicate delivery).

    Raises (from the returned function):
        RuntimeError: when a POST is not answered 200.
    """

    async def deliver(chats: list[int], text: str) -> dict[int, float]:
        headers = {SECRET_HEADER: SECRET}
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post(update: dict[str, Any]) -> int:
                async with session.post(url, json=update, headers=headers) as response:
                    await response.read()
                    return response.status

            handed: dict[int, float] = {}
            posts = []
            for n, chat in enumerate(chats, start=first_update):
                api.add_chat(chat, first_name="Giulia")  # as if the chat had written to the bot
                # The update exists from now on: waiting for a free connection counts as latency.
                handed[chat] = time.monotonic()
                posts.append(asyncio.create_task(post(text_update(n, chat, text))))
            statuses = await asyncio.gather(*posts)
        refused = [s for s in statuses if s != 200]
        if refused:
            raise RuntimeError(f"{len(refused)} webhook POSTs refused, e.g. HTTP {refused[0]}")
        return handed

    return deliver


async def wait_http(url: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Return once GET ``url`` answers 200.

    Raises:
        TimeoutError: when it does not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer in {timeout} s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def echo_webhook_server(dispatcher: Any, bot: Any) -> AsyncIterator[str]:
    """Serve ``dispatcher`` through aiogram's stock webhook handler; yield the webhook URL."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, secret_token=SECRET).register(app, path="/webhook")
    setup_application(app, dispatcher, bot=bot)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        await runner.cleanup()
