"""The one Bot API client (aiogram's) and the one translation of its failures into the error tree.

``make_bot`` returns an aiogram ``Bot`` whose every method call raises only the error tree of
``flows.errors`` (a session middleware translates aiogram's exceptions into the names of
``bot.channels.bot_api``: no call site wraps anything). ``raw_call`` posts JSON through the same
session for what needs the reply as Telegram sent it (``getUpdates``, the agents' desk), named by
the same rules.

The customers' hot calls (``sendMessage``, ``editMessageText``, ``answerCallbackQuery``: one or
two per answer) go as ``Prepared`` methods: their JSON body is built by the caller, they pass
through the session's middlewares like any aiogram call (the rate limiter, the failure names),
and a successful reply is read as a plain dict. aiogram's request building (a pydantic model per
call, each field serialised into a form) and its validation of the reply into a full ``Message``
were a fifth of the CPU per answer.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, cast

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod

from bot.channels.bot_api import (
    BAD_REQUEST,
    FLOOD,
    FORBIDDEN,
    NETWORK,
    NOT_JSON,
    REFUSED,
    SERVER,
    TIMEOUT,
    failure,
    reply_failure,
)
from bot.delivery.limited_calls import BotCall
from flows.errors import ChannelError

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


async def _name_failures(
    make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
) -> Any:
    # The outermost middleware: whatever fails inside (the request, the limiter) leaves named.
    try:
        return await make_request(bot, method)
    except ChannelError:
        raise
    except Exception as exc:
        translated = translate(exc, method.__api_method__)
        if translated is None:
            raise
        raise translated from exc


class Prepared:
    """A Bot API call whose JSON body the caller has built (``body``), answered as decoded JSON.

    Not an aiogram model (building one costs as much as the request it saves): the session's
    middlewares read only ``__api_method__``, ``__returning__`` and ``chat_id`` (what the rate
    limiter counts against, ``bot.delivery.limited_calls.cost``); the body alone goes to Telegram.
    Called with ``await call(bot, SendMessage(chat_id, body))`` on a bot from ``make_bot``.
    """

    __slots__ = ("body", "chat_id")
    __returning__: ClassVar[Any] = Any
    __api_method__: ClassVar[str] = ""

    def __init__(self, chat_id: int | str | None, body: str) -> None:
        self.chat_id = chat_id
        self.body = body.encode()


class SendMessage(Prepared):
    """``sendMessage``; its result is the sent message (the sender reads ``message_id``)."""

    __api_method__: ClassVar[str] = "sendMessage"


class EditMessageText(Prepared):
    """``editMessageText``."""

    __api_method__: ClassVar[str] = "editMessageText"


class EditMessageReplyMarkup(Prepared):
    """``editMessageReplyMarkup``."""

    __api_method__: ClassVar[str] = "editMessageReplyMarkup"


class AnswerCallbackQuery(Prepared):
    """``answerCallbackQuery``."""

    __api_method__: ClassVar[str] = "answerCallbackQuery"


def json_body(fields: dict[str, Any], *, reply_markup: str | None = None) -> str:
    """Return a prepared call's JSON body: ``fields`` encoded, and ``reply_markup`` (a keyboard
    already JSON, built once per question: ``transport.keyboard``) spliced in as it is."""
    body = json.dumps(fields, separators=(",", ":"))
    return body if reply_markup is None else body[:-1] + ',"reply_markup":' + reply_markup + "}"


_JSON_BODY = {"Content-Type": "application/json"}


class PreparedSession(AiohttpSession):
    """aiogram's aiohttp session posting ``Prepared`` calls as they are; any other call as aiogram does."""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> Any:
        if not isinstance(method, Prepared):
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        # Failures leave as aiogram names them, so ``translate`` names them as for any call.
        try:
            async with session.post(
                url,
                data=method.body,
                headers=_JSON_BODY,
                timeout=aiohttp.ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                status, content = resp.status, await resp.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except aiohttp.ClientError as exc:
            raise TelegramNetworkError(method=method, message=f"{type(exc).__name__}: {exc}") from exc
        try:
            data = self.json_loads(content)
        except ValueError:
            data = None
        if status == 200 and isinstance(data, dict) and data.get("ok") is True:
            return data.get("result")  # read by the caller for the one field it needs
        # Anything else (refused, not JSON): aiogram reads ``ok``, ``error_code``, ``description``
        # and ``parameters`` (``retry_after``, ``migrate_to_chat_id``) into its small ``Response``
        # model and raises its exception, which ``translate`` names as for any call.
        return self.check_response(bot=bot, method=method, status_code=status, content=content).result


async def call(bot: Bot, method: Prepared) -> Any:
    """Make ``method`` through ``bot``'s session and middlewares; return its ``result`` (JSON).

    Raises:
        ChatBlocked, RetryAfter, Permanent, Transient: see ``failure``.
    """
    return await bot.session(bot, cast("TelegramMethod[Any]", method))


def make_bot(token: str, api_url: str) -> Bot:
    """Return an aiogram Bot talking to the Bot API server at ``api_url``.

    Its calls raise only ``ChatBlocked``, ``RetryAfter``, ``Permanent`` or ``Transient`` (see
    ``failure``).
    """
    session = PreparedSession(api=TelegramAPIServer.from_base(api_url.rstrip("/")))
    session.middleware(_name_failures)
    session.middleware(_keep_response_model)
    return Bot(token, session=session)


def translate(exc: BaseException, what: str) -> ChannelError | None:
    """Return the named ChannelError for an exception raised by an aiogram request (None: not ours)."""
    if isinstance(exc, TelegramRetryAfter):
        return failure(what, FLOOD, retry_after=exc.retry_after)
    if isinstance(exc, TelegramForbiddenError):
        return failure(what, FORBIDDEN)
    if isinstance(exc, TelegramBadRequest):
        return failure(what, BAD_REQUEST, exc.message)
    if isinstance(exc, TelegramServerError):
        return failure(what, SERVER, exc.message)
    if isinstance(exc, TelegramNetworkError):
        timeout = "timeout" in exc.message.lower()
        return failure(what, TIMEOUT if timeout else NETWORK, exc.message)
    if isinstance(exc, TelegramAPIError) and exc.message.startswith("Too Many Requests"):
        return failure(what, FLOOD, retry_after=1)  # a 429 without (or with a zero) retry_after
    if isinstance(exc, TelegramAPIError):  # 401 unauthorized, 404, 409 conflict, migrate…
        return failure(what, REFUSED, f"{type(exc).__name__}: {exc.message}")
    if isinstance(exc, ClientDecodeError):  # an HTML error page from a proxy, a cut-off body
        return failure(what, NOT_JSON, str(exc.original)[:100])
    if isinstance(exc, TimeoutError):
        return failure(what, TIMEOUT)
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return failure(what, NETWORK, type(exc).__name__)
    return None


async def raw_call(bot: Bot, method: str, params: dict[str, Any], *, seconds: float) -> Any:
    """Call ``method`` with ``params`` (JSON) and return its ``result`` as decoded JSON, unvalidated.

    For ``getUpdates``: what Telegram sent is kept as it is, so one update aiogram's models would
    refuse cannot fail the whole batch (see ``bot.channels.telegram.updates``).

    Raises:
        ChatBlocked, RetryAfter, Permanent, Transient: see ``failure``.
    """
    session = await bot.session.create_session()  # type: ignore[attr-defined]
    url = bot.session.api.api_url(token=bot.token, method=method)
    try:
        async with session.post(url, json=params, timeout=aiohttp.ClientTimeout(total=seconds)) as resp:
            status, body = resp.status, await resp.text()
    except Exception as exc:
        translated = translate(exc, method)
        if translated is None:
            raise
        raise translated from exc
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status == 200 and isinstance(data, dict) and data.get("ok") is True:
        return data.get("result")
    raise reply_failure(method, status, body)


def bot_call(bot: Bot, *, seconds: float = 30.0) -> BotCall:
    """Return a ``BotCall`` on ``bot``'s session (the agents' desk: raw JSON in and out)."""

    async def post(method: str, params: dict[str, Any]) -> Any:
        return await raw_call(bot, method, params, seconds=seconds)

    return post
