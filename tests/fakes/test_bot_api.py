"""The fake Telegram Bot API server, exercised through the real aiogram and PTB clients."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiohttp import web

from tests.fakes.bot_api import FakeBotAPI, UploadedFile

TOKEN = "123456789:AAFakeTokenForTests_0123456789abcdefghij"
CHAT = 5551234
GROUP = -1001234567890


def make_bot(api: FakeBotAPI, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.url)))


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    b = make_bot(api)
    try:
        yield b
    finally:
        await b.session.close()


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=str(n), callback_data=f"nps:{n}") for n in range(3)],
            [InlineKeyboardButton(text="Help", url="https://example.invalid/help")],
        ]
    )


async def test_get_me_returns_bot_user_derived_from_token(api: FakeBotAPI, bot: Bot) -> None:
    """getMe answers a bot User whose id is the token's numeric prefix, and the token is recorded."""
    me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "cxbot_test_bot"
    assert api.calls[0].method == "getMe"
    assert api.calls[0].token == TOKEN
    assert api.url.startswith("http://127.0.0.1:")


async def test_send_message_with_inline_keyboard_is_echoed_and_recorded(api: FakeBotAPI, bot: Bot) -> None:
    """sendMessage returns a realistic Message (per-chat ids, text, keyboard) and records decoded params."""
    first = await bot.send_message(CHAT, "Quanto ci consiglieresti?", reply_markup=keyboard())
    second = await bot.send_message(CHAT, "Grazie!")
    other = await bot.send_message(CHAT + 1, "Hi")
    assert isinstance(first, Message)
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.text == "Quanto ci consiglieresti?"
    assert first.chat.id == CHAT
    assert first.chat.type == "private"
    assert first.from_user is not None
    assert first.from_user.is_bot
    assert first.reply_markup is not None
    assert first.reply_markup.model_dump(exclude_none=True) == keyboard().model_dump(exclude_none=True)
    sent = api.sent_messages(CHAT)
    assert [m["text"] for m in sent] == ["Quanto ci consiglieresti?", "Grazie!"]
    assert sent[0]["chat_id"] == CHAT
    assert sent[0]["reply_markup"]["inline_keyboard"][0][1]["callback_data"] == "nps:1"
    assert len(api.sent_messages()) == 3
    assert [m["message_id"] for m in api.chat_messages(CHAT)] == [1, 2]


async def test_get_updates_offset_confirms_earlier_updates(api: FakeBotAPI, bot: Bot) -> None:
    """getUpdates returns updates with update_id >= offset and drops the ones an offset confirmed."""
    pushed = [api.push_message(CHAT, f"msg {n}", user_id=CHAT) for n in range(3)]
    ids = [u["update_id"] for u in pushed]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3

    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == ids
    assert updates[0].message is not None
    assert updates[0].message.text == "msg 0"
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.language_code == "it"

    again = await bot.get_updates()  # nothing confirmed yet: same updates again
    assert [u.update_id for u in again] == ids

    rest = await bot.get_updates(offset=ids[1])
    assert [u.update_id for u in rest] == ids[1:]
    assert await bot.get_updates(offset=ids[2] + 1) == []
    assert await bot.get_updates() == []  # confirmed updates are never returned again
    assert api.pending_updates() == []

    new = api.push_message(CHAT, "later")
    assert [u.update_id for u in await bot.get_updates(limit=1)] == [new["update_id"]]


async def test_get_updates_long_poll_returns_when_update_is_pushed(api: FakeBotAPI, bot: Bot) -> None:
    """A long poll is held until an update is pushed, then answers at once."""
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    for _ in range(100):
        if api.active_polls:
            break
        await asyncio.sleep(0.01)
    assert api.active_polls == 1
    started = time.monotonic()
    api.push_message(CHAT, "/start abc")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.0
    assert updates[0].message is not None
    assert updates[0].message.text == "/start abc"
    assert updates[0].message.entities is not None
    assert updates[0].message.entities[0].type == "bot_command"


async def test_empty_long_poll_times_out_with_empty_list() -> None:
    """A long poll with no update answers [] after min(timeout, poll_timeout_cap) seconds."""
    async with FakeBotAPI(poll_timeout_cap=0.3) as api:
        bot = make_bot(api)
        try:
            started = time.monotonic()
            assert await bot.get_updates(timeout=30) == []
            assert 0.25 <= time.monotonic() - started < 2
        finally:
            await bot.session.close()


async def test_concurrent_get_updates_conflict(api: FakeBotAPI, bot: Bot) -> None:
    """A second getUpdates terminates the held one with 409 Conflict, as two bot instances would."""
    first = asyncio.create_task(bot.get_updates(timeout=10))
    for _ in range(100):
        if api.active_polls:
            break
        await asyncio.sleep(0.01)
    assert await bot.get_updates() == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first


async def test_429_surfaces_as_retry_after(api: FakeBotAPI, bot: Bot) -> None:
    """fail_next(429, retry_after=N) raises TelegramRetryAfter with retry_after N, then succeeds."""
    api.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(CHAT, "hi")
    assert exc.value.retry_after == 7
    assert "retry after 7" in exc.value.message
    body = api.calls_of("sendMessage")[0].response
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await bot.send_message(CHAT, "hi")
    assert len(api.sent_messages(CHAT)) == 1
    assert len(api.sent_messages(CHAT, include_failed=True)) == 2
    assert api.stats.rejected_429 == 1
    assert api.stats.sent == 1


async def test_403_surfaces_as_forbidden(api: FakeBotAPI, bot: Bot) -> None:
    """A 403 is TelegramForbiddenError; block_chat makes every send to that chat 403 until unblocked."""
    api.fail_next("sendMessage", 403)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hi")
    api.block_chat(CHAT)
    for _ in range(3):
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(CHAT, "hi")
    await bot.send_message(CHAT + 1, "others still work")
    api.unblock_chat(CHAT)
    await bot.send_message(CHAT, "back")
    assert [m["text"] for m in api.sent_messages()] == ["others still work", "back"]


async def test_5xx_surfaces_as_server_error(api: FakeBotAPI, bot: Bot) -> None:
    """Injected 500/502 are TelegramServerError; a fault on '*' hits any method; count is honoured."""
    api.fail_next("sendMessage", 500, count=2)
    for _ in range(2):
        with pytest.raises(TelegramServerError):
            await bot.send_message(CHAT, "hi")
    await bot.send_message(CHAT, "hi")
    api.fail_next("*", 502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()


async def test_outage_answers_502_then_recovers(api: FakeBotAPI, bot: Bot) -> None:
    """set_outage makes every method answer 502 for its duration only."""
    api.set_outage(0.3)
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    with pytest.raises(TelegramServerError):
        await bot.send_message(CHAT, "hi")
    await asyncio.sleep(0.35)
    assert (await bot.get_me()).id == 123456789


async def test_unreachable_server_is_network_error(api: FakeBotAPI) -> None:
    """Once the fake is closed, aiogram reports TelegramNetworkError (connection refused)."""
    url = api.url
    await api.close()
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(url)))
    try:
        with pytest.raises(TelegramNetworkError):
            await bot.get_me()
    finally:
        await bot.session.close()


async def test_unknown_method_is_404_json() -> None:
    """An unknown method answers 404 with Telegram's JSON error body."""
    async with FakeBotAPI() as api, aiohttp.ClientSession() as http:
        async with http.post(f"{api.url}/bot{TOKEN}/sendTelepathy", json={"chat_id": 1}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.get(f"{api.url}/bot{TOKEN}/GETME") as resp:  # names are case-insensitive
            assert resp.status == 200
        assert [c.method for c in api.calls] == ["sendTelepathy", "getMe"]


async def test_require_token_rejects_other_tokens() -> None:
    """With require_token, other tokens get 401 (TelegramUnauthorizedError)."""
    async with FakeBotAPI(require_token=TOKEN) as api:
        good, bad = make_bot(api), make_bot(api, "42:WrongToken")
        try:
            await good.get_me()
            with pytest.raises(TelegramUnauthorizedError):
                await bad.get_me()
        finally:
            await good.session.close()
            await bad.session.close()
        assert api.tokens == [TOKEN, "42:WrongToken"]


async def test_rate_limit_rejects_31st_message_in_a_second(bot: Bot, api: FakeBotAPI) -> None:
    """With limits on, the 31st message within a second (distinct chats) is 429 with a retry_after."""
    api.limits()
    started = time.monotonic()
    for n in range(30):
        await bot.send_message(CHAT + n, "broadcast")
    if time.monotonic() - started > 0.9:
        pytest.skip("machine too slow to send 30 messages within one second")
    with pytest.raises(TelegramRetryAfter) as exc:
        await bot.send_message(CHAT + 30, "broadcast")
    assert exc.value.retry_after == 1
    assert api.stats.sent == 30
    assert api.stats.rejected_429 == 1
    assert api.stats.per_chat[CHAT] == 1
    assert api.stats.max_in_window(1.0) == 30
    assert api.stats.send_rate() > 30  # all sent well within a second


async def test_rate_limit_per_chat_and_per_group() -> None:
    """Per-chat 1 msg/s and per-group 20 msg/min are enforced with sliding windows."""
    async with FakeBotAPI(enforce_limits=True) as api:
        bot = make_bot(api)
        try:
            await bot.send_message(CHAT, "one")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(CHAT, "two")
            api.limits(global_per_s=None, per_chat_per_s=None, per_group_per_min=20)
            for _ in range(20):
                await bot.send_message(GROUP, "group")
            with pytest.raises(TelegramRetryAfter) as exc:
                await bot.send_message(GROUP, "group")
            assert 50 <= exc.value.retry_after <= 60
            api.disable_limits()
            await bot.send_message(GROUP, "no limits")
        finally:
            await bot.session.close()
        assert api.stats.rejected_per_chat[GROUP] == 1


async def test_edit_and_callback_round_trip(api: FakeBotAPI, bot: Bot) -> None:
    """A pressed button arrives as callback_query; edits update the chat; unchanged edits are 400."""
    sent = await bot.send_message(CHAT, "Voto?", reply_markup=keyboard())
    update = api.push_callback(CHAT, sent.message_id, "nps:2")
    [got] = await bot.get_updates()
    assert got.update_id == update["update_id"]
    query = got.callback_query
    assert query is not None
    assert query.data == "nps:2"
    assert query.message is not None
    assert query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query.id, text="Grazie")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)

    edited = await bot.edit_message_text("Voto: 2", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "Voto: 2"
    assert edited.edit_date is not None
    assert edited.reply_markup is None  # editing text without reply_markup drops the keyboard
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Voto: 2", chat_id=CHAT, message_id=sent.message_id)
    with_kb = await bot.edit_message_reply_markup(
        chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert isinstance(with_kb, Message)
    assert with_kb.reply_markup is not None
    assert with_kb.reply_markup.model_dump(exclude_none=True) == keyboard().model_dump(exclude_none=True)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=999)
    assert api.chat_messages(CHAT)[0]["text"] == "Voto: 2"
    assert [c.method for c in api.calls if c.ok][-1] == "editMessageReplyMarkup"


async def test_delete_message_and_chat_action(api: FakeBotAPI, bot: Bot) -> None:
    """deleteMessage removes a message (400 when unknown); sendChatAction answers True."""
    sent = await bot.send_message(CHAT, "temp")
    assert await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    assert await bot.send_chat_action(CHAT, "typing")
    assert api.chat_messages(CHAT) == []


async def test_uploads_photo_and_document(api: FakeBotAPI, bot: Bot) -> None:
    """sendPhoto/sendDocument accept multipart uploads; the file content is recorded."""
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    photo = await bot.send_photo(CHAT, BufferedInputFile(png, "chart.png"), caption="NPS settimanale")
    assert photo.photo is not None
    assert photo.photo[-1].file_size == len(png)
    assert photo.caption == "NPS settimanale"
    doc = await bot.send_document(GROUP, BufferedInputFile(b"a,b\n1,2\n", "report.csv"))
    assert doc.document is not None
    assert doc.document.file_name == "report.csv"
    upload = api.calls_of("sendPhoto")[0].params["photo"]
    assert isinstance(upload, UploadedFile)
    assert upload.data == png
    assert upload.filename == "chart.png"
    by_id = await bot.send_photo(CHAT, photo.photo[-1].file_id)
    assert by_id.photo is not None
    assert api.stats.sent == 3


async def test_get_chat_member_statuses() -> None:
    """getChatMember: configured agents are members, others left, set_member overrides (all parse)."""
    async with FakeBotAPI(agents=[77]) as api:
        bot = make_bot(api)
        try:
            assert (await bot.get_chat_member(GROUP, 77)).status == "member"
            assert (await bot.get_chat_member(GROUP, 78)).status == "left"
            for status in ("administrator", "creator", "restricted", "kicked", "left"):
                api.set_member(GROUP, 77, status)
                member = await bot.get_chat_member(GROUP, 77)
                assert member.status == status
                assert member.user.id == 77
        finally:
            await bot.session.close()


async def test_commands_per_language(api: FakeBotAPI, bot: Bot) -> None:
    """setMyCommands/getMyCommands keep one list per language_code (and scope)."""
    await bot.set_my_commands([BotCommand(command="start", description="Avvia")], language_code="it")
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    scoped = BotCommandScopeChat(chat_id=CHAT)
    await bot.set_my_commands([BotCommand(command="agent", description="Agent")], scope=scoped)
    assert [c.description for c in await bot.get_my_commands(language_code="it")] == ["Avvia"]
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    assert [c.command for c in await bot.get_my_commands(scope=scoped)] == ["agent"]
    assert await bot.get_my_commands(language_code="en") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Command", description="x")])


async def test_webhook_blocks_get_updates(api: FakeBotAPI, bot: Bot) -> None:
    """While a webhook is set, getUpdates is 409; getWebhookInfo reports it; deleteWebhook clears it."""
    api.push_message(CHAT, "pending")
    await bot.set_webhook("https://127.0.0.1:8443/tg", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://127.0.0.1:8443/tg"
    assert info.pending_update_count == 1
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.get_updates() == []


async def test_webhook_delivery_to_loopback_with_retry() -> None:
    """deliver_webhooks POSTs queued updates in order with the secret header, retrying until a 2xx."""
    received: list[tuple[int, str | None]] = []
    failures = [1]

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        if failures:
            failures.pop()
            return web.Response(status=500)
        received.append((update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/tg", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with FakeBotAPI(deliver_webhooks=True, webhook_retry_delay=0.05) as api:
            bot = make_bot(api)
            try:
                await bot.set_webhook(f"http://127.0.0.1:{port}/tg", secret_token="s3cret")
            finally:
                await bot.session.close()
            first = api.push_message(CHAT, "uno")
            second = api.push_message(CHAT, "due")
            for _ in range(200):  # the fake records a delivery's status after the hook has answered
                if len(received) == 2 and len(api.webhook_deliveries) == 3:
                    break
                await asyncio.sleep(0.01)
            assert received == [(first["update_id"], "s3cret"), (second["update_id"], "s3cret")]
            assert [d.status for d in api.webhook_deliveries] == [500, 200, 200]
            assert api.pending_updates() == []
    finally:
        await runner.cleanup()


async def test_forum_topic_and_threaded_message(api: FakeBotAPI, bot: Bot) -> None:
    """createForumTopic returns a message_thread_id that sendMessage echoes back."""
    topic = await bot.create_forum_topic(GROUP, "Ordine #1234")
    assert topic.name == "Ordine #1234"
    msg = await bot.send_message(GROUP, "Nuovo caso", message_thread_id=topic.message_thread_id)
    assert msg.message_thread_id == topic.message_thread_id
    assert msg.is_topic_message
    assert msg.chat.type == "supergroup"
    assert api.topics(GROUP)[0]["message_thread_id"] == topic.message_thread_id
    update = api.push_message(
        GROUP, "ci penso io", user_id=77, chat_type="supergroup", message_thread_id=topic.message_thread_id
    )
    assert update["message"]["message_thread_id"] == topic.message_thread_id
    assert update["message"]["chat"]["is_forum"] is True


async def test_telegram_validation_errors(api: FakeBotAPI, bot: Bot) -> None:
    """Bad HTML/MarkdownV2, callback_data over 64 bytes and empty text are 400 like Telegram."""
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(CHAT, "voto <b>10", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="Unsupported start tag"):
        await bot.send_message(CHAT, "a <foo>b</foo>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="reserved"):
        await bot.send_message(CHAT, "Grazie.", parse_mode="MarkdownV2")
    too_long = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "hi", reply_markup=too_long)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    ok = await bot.send_message(CHAT, "<b>Voto</b> &lt;10&gt; *bold* Grazie\\.", parse_mode="HTML")
    assert ok.text == "Voto <10> *bold* Grazie\\."
    md = await bot.send_message(
        CHAT, "*Grazie*\\! [link](https://example.invalid/a-b)", parse_mode="MarkdownV2"
    )
    assert md.text == "Grazie! link"
    assert api.stats.sent == 2


async def test_strict_chats_refuse_unknown_users() -> None:
    """With strict_chats, a user who never wrote cannot be messaged (403), one who did can."""
    async with FakeBotAPI(strict_chats=True) as api:
        bot = make_bot(api)
        try:
            with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
                await bot.send_message(CHAT, "hi")
            api.push_message(CHAT, "/start tok")
            await bot.send_message(CHAT, "hi")
        finally:
            await bot.session.close()


async def test_aiogram_dispatcher_end_to_end(api: FakeBotAPI, bot: Bot) -> None:
    """A real aiogram Dispatcher long-polls the fake, handles a pushed /start and replies."""
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"Ciao {message.from_user.first_name if message.from_user else ''}")

    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False))
    try:
        api.push_message(CHAT, "/start", first_name="Giulia")
        [call] = await api.wait_for("sendMessage")
        assert call.params["chat_id"] == CHAT
        assert call.params["text"] == "Ciao Giulia"
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)


async def test_wait_for_times_out_with_recent_calls(api: FakeBotAPI, bot: Bot) -> None:
    """wait_for raises TimeoutError naming the recent calls when too few calls match."""
    await bot.get_me()
    with pytest.raises(TimeoutError, match=r"getMe:200"):
        await api.wait_for("sendMessage", timeout=0.1)


def test_thread_mode_with_ptb_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    """From sync code the fake runs in a thread; a python-telegram-bot Bot sends, polls and gets errors."""
    import telegram
    from telegram.error import Forbidden, RetryAfter

    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as timedelta, no deprecation warning
    api = FakeBotAPI()
    api.start_in_thread()
    try:

        async def scenario() -> None:
            async with telegram.Bot(TOKEN, base_url=f"{api.url}/bot") as ptb:
                assert ptb.bot.id == 123456789
                await ptb.send_message(
                    CHAT,
                    "Ciao",
                    reply_markup=telegram.InlineKeyboardMarkup(
                        [[telegram.InlineKeyboardButton("10", callback_data="nps:10")]]
                    ),
                )
                pushed = api.push_message(CHAT, "ciao bot")
                updates = await ptb.get_updates(timeout=5)
                assert [u.update_id for u in updates] == [pushed["update_id"]]
                assert updates[0].message is not None
                assert updates[0].message.text == "ciao bot"
                assert await ptb.get_updates(offset=pushed["update_id"] + 1) == ()
                api.fail_next("sendMessage", 429, retry_after=3)
                with pytest.raises(RetryAfter) as exc:
                    await ptb.send_message(CHAT, "x")
                waited = exc.value.retry_after
                assert isinstance(waited, timedelta) and waited.total_seconds() == 3
                api.block_chat(CHAT)
                with pytest.raises(Forbidden):
                    await ptb.send_message(CHAT, "x")
                await api.wait_for("sendMessage", count=3)  # async wait from another loop

        asyncio.run(scenario())
        [call] = api.wait_for_sync(lambda c: c.method == "sendMessage" and c.ok)
        assert call.params["chat_id"] == CHAT
        assert call.params["reply_markup"] == {
            "inline_keyboard": [[{"text": "10", "callback_data": "nps:10"}]]
        }
        assert api.sent_messages(CHAT)[0]["text"] == "Ciao"
        assert len(api.wait_for_sync("sendMessage", count=3, timeout=1)) == 3
    finally:
        api.stop()


def test_thread_mode_context_manager_releases_port() -> None:
    """`with FakeBotAPI()` serves from a thread and stops it on exit."""
    import socket

    with FakeBotAPI() as api:
        port = api.port
        update = api.push_callback(CHAT, 1, "x")
        assert update["callback_query"]["data"] == "x"
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
