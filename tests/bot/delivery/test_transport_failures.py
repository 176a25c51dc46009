"""Each chat transport names every failure once, with the error tree only, through the real fakes:
the fake Bot API (aiogram's client, the desk's raw calls, python-telegram-bot) and a fake Rasa."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import Bot as PtbBot

from bot.channels.ptb import PtbTransport
from bot.channels.rasa.delivery import RasaTransport
from bot.channels.telegram.api import bot_call, make_bot
from bot.channels.telegram.transport import TelegramTransport
from bot.delivery.local import LocalTransport
from bot.infra.settings import Settings
from flows.errors import ChannelError, ChatBlocked, Permanent, RetryAfter, Transient
from storage.claims import ClaimedMessage
from tests.bot.channels.test_rasa_delivery import FakeRasa
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "42:TRANSPORT-test"
SECRET = b"k" * 32
MESSAGE = ClaimedMessage(1, "telegram", "4242", "message", {"text": "Com'è andata?", "rows": []}, 1)

#: (status, fake's options, the error expected, exactly that class)
FAILURES = [
    (403, {}, ChatBlocked),
    (429, {"retry_after": 7}, RetryAfter),
    (400, {}, Permanent),
    (404, {}, Permanent),
    (502, {"html": True}, Transient),
    (500, {}, Transient),
]


def _named(error: BaseException, expected: type[ChannelError]) -> None:
    assert type(error) is expected, f"{type(error).__name__}: {error}"
    if expected is RetryAfter:
        assert isinstance(error, ChannelError) and error.retry_after == 7


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    """The fake Bot API on loopback."""
    async with FakeBotAPI() as fake:
        yield fake


@pytest.mark.parametrize(("status", "options", "expected"), FAILURES)
async def test_telegram_transport_names_bot_api_failures(
    api: FakeBotAPI, status: int, options: dict[str, Any], expected: type[ChannelError]
) -> None:
    """sendMessage answered 403/429/400/404/502 (HTML)/500 leaves the transport as exactly one name."""
    bot = make_bot(TOKEN, api.url)
    api.fail_next("sendMessage", status, **options)
    try:
        with pytest.raises(ChannelError) as info:
            await TelegramTransport(bot, SECRET).deliver(MESSAGE)
    finally:
        await bot.session.close()
    _named(info.value, expected)


@pytest.mark.parametrize(("status", "options", "expected"), FAILURES)
async def test_desk_calls_share_the_client_and_its_names(
    api: FakeBotAPI, status: int, options: dict[str, Any], expected: type[ChannelError]
) -> None:
    """The agents' desk posts raw JSON through the same aiogram session: the same failures, the same names."""
    bot = make_bot(TOKEN, api.url)
    call = bot_call(bot)
    api.fail_next("sendMessage", status, **options)
    try:
        with pytest.raises(ChannelError) as info:
            await call("sendMessage", {"chat_id": -1001, "text": "card"})
        assert (await call("sendMessage", {"chat_id": -1001, "text": "card"}))["message_id"]
    finally:
        await bot.session.close()
    _named(info.value, expected)


async def test_bot_api_refusing_the_token_or_gone_is_named_too() -> None:
    """A 401 (wrong token) is permanent; a Bot API that does not answer at all is temporary."""
    async with FakeBotAPI(require_token="1:OTHER") as api:
        bot = make_bot(TOKEN, api.url)
        with pytest.raises(Permanent, match="refused"):
            await bot.get_me()
    with pytest.raises(Transient, match="network"):
        await bot.send_message(4242, "hello")  # the fake is closed: connection refused
    await bot.session.close()


@pytest.fixture
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """python-telegram-bot 22's time periods as timedelta (as test_ptb does; ints are deprecated)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.mark.usefixtures("ptb_timedelta")
@pytest.mark.parametrize(("status", "options", "expected"), FAILURES)
async def test_ptb_transport_names_failures_like_cxbots_client(
    api: FakeBotAPI, status: int, options: dict[str, Any], expected: type[ChannelError]
) -> None:
    """python-telegram-bot's errors for the same answers map onto the same names."""
    async with PtbBot(TOKEN, base_url=f"{api.url}/bot") as bot:
        api.fail_next("sendMessage", status, **options)
        with pytest.raises(ChannelError) as info:
            await PtbTransport(bot, SECRET).deliver(MESSAGE)
    _named(info.value, expected)


@pytest.mark.usefixtures("ptb_timedelta")
async def test_ptb_transport_refuses_kinds_it_cannot_send(api: FakeBotAPI) -> None:
    """An edit or a card is not for the PTB integration: permanent, nothing sent."""
    async with PtbBot(TOKEN, base_url=f"{api.url}/bot") as bot:
        with pytest.raises(Permanent, match="edit"):
            await PtbTransport(bot, SECRET).deliver(ClaimedMessage(2, "telegram", "4242", "edit", {}, 1))
    assert api.calls_of("sendMessage") == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [(503, Transient), (429, Transient), (408, Transient), (404, Permanent), (401, Permanent)],
)
async def test_rasa_transport_names_http_answers(status: int, expected: type[ChannelError]) -> None:
    """trigger_intent answered 5xx/429/408 is temporary, any other refusal permanent."""
    rasa = FakeRasa()
    await rasa.start()
    rasa.statuses = [status]
    settings = Settings(database_url="sqlite://", rasa_url=rasa.url, _env_file=None)
    message = ClaimedMessage(3, "rasa", "whatsapp:+39333", "message", {"text": "?"}, 1)
    try:
        async with httpx.AsyncClient(base_url=rasa.url) as client:
            with pytest.raises(ChannelError) as info:
                await RasaTransport(client, settings).deliver(message)
    finally:
        await rasa.close()
    assert type(info.value) is expected and str(info.value) == f"http {status}"


async def test_rasa_unreachable_is_temporary() -> None:
    """No Rasa listening: a temporary failure named after the network error."""
    settings = Settings(database_url="sqlite://", rasa_url="http://127.0.0.1:9", _env_file=None)
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9") as client:
        with pytest.raises(Transient, match=r"^network: ConnectError$"):
            await RasaTransport(client, settings).deliver(MESSAGE)


async def test_terminal_transport_shows_each_message() -> None:
    """The terminal's transport hands the message to its printer."""
    shown: list[Any] = []
    await LocalTransport(shown.append).deliver(MESSAGE)
    assert shown == [MESSAGE]
