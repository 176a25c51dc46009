"""The customers' hot Bot API calls go as prepared JSON through aiogram's session: what Telegram
receives, what is read back, and every failure named as for any other call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

from bot.channels.telegram.api import AnswerCallbackQuery, SendMessage, call, make_bot
from bot.channels.telegram.transport import TelegramTransport
from flows.errors import Permanent, Transient
from storage.claims import ClaimedMessage
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "42:PREPARED-test"
SECRET = b"k" * 32


def _question() -> ClaimedMessage:
    """A question with one button (a fresh payload: the transport records its progress in it)."""
    payload: dict[str, Any] = {
        "text": "Com'è andata? «bene» 👍",
        "rows": [[{"label": "Bene", "value": "good"}]],
    }
    return ClaimedMessage(1, "telegram", "4242", "message", payload, 1)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[str]:
    """A one-route Bot API stand-in on loopback answering every method with ``handler``."""
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_question_goes_as_json_and_its_message_id_comes_back() -> None:
    """sendMessage carries the text and the signed keyboard as JSON objects; the sent id is returned."""
    async with FakeBotAPI(require_token=TOKEN) as api:
        bot = make_bot(TOKEN, api.url)
        try:
            done = await TelegramTransport(bot, SECRET).deliver(_question())
        finally:
            await bot.session.close()
        (sent,) = api.calls_of("sendMessage")
    assert sent.params["chat_id"] == 4242
    assert sent.params["text"] == "Com'è andata? «bene» 👍"
    (row,) = sent.params["reply_markup"]["inline_keyboard"]
    assert row[0]["text"] == "Bene" and row[0]["callback_data"].startswith("v1.-.good.")
    assert done["message_id"] == sent.response["result"]["message_id"]


async def test_a_callback_answer_carries_its_text_only_when_given() -> None:
    """answerCallbackQuery sends the query id, and the text only when there is one."""
    bodies: list[dict[str, object]] = []

    async def answer(request: web.Request) -> web.Response:
        bodies.append(json.loads(await request.read()))
        return web.json_response({"ok": True, "result": True})

    async with _server(answer) as url:
        bot = make_bot(TOKEN, url)
        try:
            assert await call(bot, AnswerCallbackQuery(None, json.dumps({"callback_query_id": "q1"}))) is True
            body = json.dumps({"callback_query_id": "q2", "text": "Grazie!"})
            assert await call(bot, AnswerCallbackQuery(None, body)) is True
        finally:
            await bot.session.close()
    assert bodies == [{"callback_query_id": "q1"}, {"callback_query_id": "q2", "text": "Grazie!"}]


async def test_a_group_moved_to_a_supergroup_is_permanent() -> None:
    """A reply with parameters.migrate_to_chat_id is refused for good, named 'refused' as before."""

    async def migrated(request: web.Request) -> web.Response:
        reply = {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: group chat was upgraded to a supergroup chat",
            "parameters": {"migrate_to_chat_id": -100123},
        }
        return web.json_response(reply, status=400)

    async with _server(migrated) as url:
        bot = make_bot(TOKEN, url)
        try:
            with pytest.raises(Permanent, match="sendMessage: refused: TelegramMigrateToChat"):
                await call(bot, SendMessage(-123, '{"chat_id":-123,"text":"hi"}'))
        finally:
            await bot.session.close()


async def test_an_ok_status_with_a_body_that_is_not_json_is_temporary() -> None:
    """A 200 whose body is not JSON (a proxy's page) is temporary, named not_json."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async with _server(page) as url:
        bot = make_bot(TOKEN, url)
        try:
            with pytest.raises(Transient, match="sendMessage: not_json"):
                await call(bot, SendMessage(7, '{"chat_id":7,"text":"hi"}'))
        finally:
            await bot.session.close()


async def test_a_bot_api_that_never_answers_times_out_as_temporary() -> None:
    """No answer within the session's timeout: temporary, named timeout."""
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.json_response({"ok": True, "result": True})

    async with _server(hang) as url:
        bot = make_bot(TOKEN, url)
        bot.session.timeout = 0.2
        try:
            with pytest.raises(Transient, match="editMessageText: timeout"):
                await TelegramTransport(bot, SECRET).deliver(
                    ClaimedMessage(2, "telegram", "7", "edit", {"message_id": 3, "text": "ok"}, 1)
                )
        finally:
            never.set()
            await bot.session.close()


async def test_a_connection_cut_mid_call_is_a_temporary_network_failure() -> None:
    """The connection dropped before any answer: temporary, named network."""

    async def cut(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()  # written to a closed connection: never read

    async with _server(cut) as url:
        bot = make_bot(TOKEN, url)
        try:
            with pytest.raises(Transient, match="sendMessage: network: ServerDisconnectedError"):
                await TelegramTransport(bot, SECRET).deliver(_question())
        finally:
            await bot.session.close()
