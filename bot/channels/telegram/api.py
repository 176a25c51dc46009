"""The aiogram client and the translation of its exceptions into cxbot's error tree."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod

from bot.sender import ChatBlocked
from flows.errors import ChannelError

T = TypeVar("T")


# aiogram validates every reply as ``Response[method.__returning__]``. pydantic caches such
# parametrised models only weakly, so whenever the garbage collector has run the class is built
# again: ~3 model classes and their schemas, milliseconds of CPU on the hot path (one send per
# answer). One strong reference per method type keeps pydantic's cache warm.
_RESPONSE_MODELS: dict[type[Any], type[Any]] = {}


async def _keep_response_model(
    make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
) -> Any:
    kind = type(method)
    if kind not in _RESPONSE_MODELS:
        _RESPONSE_MODELS[kind] = Response[method.__returning__]  # type: ignore[name-defined]
    return await make_request(bot, method)


def make_bot(token: str, api_url: str) -> Bot:
    """Return an aiogram Bot talking to the Bot API server at ``api_url``."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    session.middleware(_keep_response_model)
    return Bot(token, session=session)


async def call(request: Awaitable[T], what: str) -> T:
    """Await an aiogram request, translating its errors.

    Raises:
        ChatBlocked: 403 (the user blocked the bot, or it was removed from the group).
        ChannelError: ``retry_after`` on 429; ``permanent`` on 400/401/404 and other client
            errors; temporary (neither) on 5xx and network errors.
    """
    try:
        return await request
    except TelegramRetryAfter as exc:
        raise ChannelError(f"{what}: flood control", retry_after=float(exc.retry_after)) from exc
    except TelegramForbiddenError as exc:
        raise ChatBlocked(f"{what}: forbidden") from exc
    except TelegramBadRequest as exc:
        raise ChannelError(f"{what}: bad request: {exc.message[:200]}", permanent=True) from exc
    except (TelegramServerError, TelegramNetworkError) as exc:
        raise ChannelError(f"{what}: {type(exc).__name__}") from exc
    except TelegramAPIError as exc:  # 401 unauthorized, 404, 409 conflict, migrate…
        raise ChannelError(f"{what}: {type(exc).__name__}", permanent=True) from exc
    except TimeoutError as exc:
        raise ChannelError(f"{what}: timeout") from exc
