"""The aiogram client cxbot builds (bot.channels.telegram.api.make_bot) against the fake Bot API."""

from __future__ import annotations

import gc

from aiogram.methods import GetMe, Response
from aiogram.types import User

from bot.channels.telegram import api as telegram_api
from bot.channels.telegram.api import make_bot
from tests.fakes.bot_api import FakeBotAPI

TOKEN = "42:CLIENT-test"


async def test_reply_model_is_built_once_and_survives_garbage_collection() -> None:
    """After a request, aiogram's reply model for that method is kept: a full collection does not
    make pydantic build it again on the next request."""
    async with FakeBotAPI(require_token=TOKEN) as api:
        bot = make_bot(TOKEN, api.url)
        try:
            me = await bot.get_me()
            kept = telegram_api._RESPONSE_MODELS[GetMe]
            gc.collect()
            assert Response[User] is kept  # pydantic's weak cache still finds the same class
            again = await bot.get_me()
        finally:
            await bot.session.close()
    assert me.is_bot and again.id == me.id
